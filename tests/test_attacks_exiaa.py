"""eXIAA's three phases and its Gaussian baseline: eq. 5 to the last bit on exactly the selected entries,
top-k on hand-made maps, the attack image's choice, the black-box property, the baseline's seeds, and the
refusals."""
import ast
import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from core.attacks import exiaa as attack
from core.attacks.exiaa import Candidates, entries, exiaa, gaussian_injection, inject_grid, masks, ranking, select
from core.errors import InputError
from core.models.wrapper import ImageClassifier
from core.studies.exiaa import black_box
from devices import DEVICES


def toy_classifier(seed: int = 0, channels: int = 3, classes: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(channels, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 64, classes))
    return ImageClassifier(net, (0.5,) * channels, (0.25,) * channels).eval()


def images(n: int, seed: int, low: float = 0.0, high: float = 1.0, channels: int = 3) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, channels, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_top_k_takes_the_largest_positive_entries_ties_to_the_lower_index():
    z = torch.tensor([[3.0, -1.0, 3.0, 0.0, 2.0, 5.0]])  # positives: 3, 3, 2, 5 (P = 4)
    order, positives = ranking(z)
    assert positives.tolist() == [4]
    for k, chosen in ((0.01, {5}), (0.25, {5}), (0.5, {5, 0}), (0.75, {5, 0, 2}), (1.0, {5, 0, 2, 4})):
        mask = masks(order, entries(positives, k)[:, None])[0, 0]
        assert set(mask.nonzero().flatten().tolist()) == chosen, k  # never the zero or the negative entry
    # m = ceil(k P): 0.3 * 10 is 3 entries, not 4 (3.0000000000000004 in floating point)
    assert entries(torch.tensor([10, 10, 7, 1]), 0.3).tolist() == [3, 3, 3, 1]


def test_a_map_without_positive_entries_is_refused():
    with pytest.raises(InputError, match=r"no positive entries \(attack\(s\) \[1\]\)"):
        ranking(torch.tensor([[1.0, -1.0], [0.0, -2.0]]))


@pytest.mark.parametrize("device", DEVICES)
def test_eq_5_changes_exactly_the_selected_entries_to_the_last_bit(device):
    x = images(2, 0, 0.0, 0.5).to(device)  # x and x_bar differ everywhere: every selected entry moves
    x_bar = images(2, 1, 0.5, 1.0).to(device)
    z_bar = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(2)).to(device)
    order, positives = ranking(z_bar)
    top_ks, alphas = (0.05, 0.3, 1.0), (0.03, 0.15, 1.0)
    counts = torch.stack([entries(positives, k) for k in top_ks], 1)
    x_hat, mask = inject_grid(x, x_bar, order, counts, alphas)
    assert x_hat.shape == (2, 3, 3, 3, 8, 8) and mask.shape == (2, 3, 3, 8, 8)
    xs, xbs, zs = (t.cpu().numpy().reshape(2, -1) for t in (x, x_bar, z_bar))
    for n in range(2):
        ranked = sorted(range(xs.shape[1]), key=lambda i: (-zs[n, i], i))  # by hand: largest first, ties by index
        for t, k in enumerate(top_ks):
            m = int(np.ceil(k * (zs[n] > 0).sum()))
            chosen = np.zeros(xs.shape[1], bool)
            chosen[ranked[:m]] = True
            assert np.array_equal(mask[n, t].cpu().numpy().reshape(-1), chosen)
            for a, alpha in enumerate(alphas):
                blend = np.clip(np.float32(1 - alpha) * xs[n] + np.float32(alpha) * xbs[n], 0, 1)  # eq. 5
                got = x_hat[n, a, t].cpu().numpy().reshape(-1)
                assert np.array_equal(got, np.where(chosen, blend, xs[n]))  # bit for bit
                assert np.array_equal(got != xs[n], chosen)  # exactly the selected entries changed


def test_the_attack_image_is_the_most_probable_of_the_running_up_class_else_the_most_probable_for_it():
    probabilities = torch.tensor([[0.6, 0.3, 0.1, 0.0], [0.1, 0.2, 0.3, 0.4]])  # y* 0, y_r 1; y* 3, y_r 2
    pool = torch.tensor([[0.1, 0.8, 0.1, 0.0],   # predicted 1, f_1 = 0.8
                         [0.0, 0.9, 0.1, 0.0],   # predicted 1, f_1 = 0.9: the first image's choice
                         [0.5, 0.45, 0.05, 0.0],  # f_1 = 0.45, but predicted 0
                         [0.6, 0.0, 0.4, 0.0]])   # the pool's highest f_2, predicted 0: no image is predicted 2
    candidates = Candidates(pool, lambda i: torch.zeros(len(i), 3, 8, 8))
    chosen = select(probabilities, candidates, 2)
    assert chosen.y_star.tolist() == [0, 3] and chosen.y_r.tolist() == [1, 2]
    assert chosen.indices.tolist() == [[1, 0], [3, 0]]
    assert chosen.in_class.tolist() == [[True, True], [False, False]]
    excluded = select(probabilities, candidates, 1, exclude=torch.tensor([[False, True, False, False]] * 2))
    assert excluded.indices[:, 0].tolist() == [0, 3]  # the image itself is never its own attack image
    with pytest.raises(InputError, match="holds no images"):
        select(probabilities, Candidates(pool[:0], candidates.images), 1)
    with pytest.raises(InputError, match="4 usable image"):
        select(probabilities, candidates, 5)


@pytest.mark.parametrize("device", DEVICES)
def test_the_attack_needs_nothing_but_the_answers_of_predict_and_explain(device):
    model = toy_classifier().to(device)
    for p in model.parameters():
        p.requires_grad_(True)  # reachable gradients, if the attack could reach the model at all
    predict, explain = black_box(model, "saliency", {})
    x, pool = images(3, 0).to(device), images(6, 1).to(device)
    asked, answers = [], {}

    def key(*tensors) -> bytes:
        return b"".join(t.detach().cpu().numpy().tobytes() for t in tensors)

    def recording(fn):
        def call(*args):
            asked.extend(args)
            answers[key(*args)] = fn(*args)
            return answers[key(*args)]
        return call

    first = exiaa(x, recording(predict), recording(explain), Candidates.of(pool, recording(predict)),
                  alpha=0.1, top_k=0.2)
    assert all(not t.requires_grad and t.grad_fn is None for t in asked)  # it hands over plain values
    assert all(p.grad is None for p in model.parameters())  # and no gradient of the model was ever taken
    del model  # the same attack from table look-ups alone: no model exists any more

    def lookup(*args):
        return answers[key(*args)]

    again = exiaa(x, lookup, lookup, Candidates.of(pool, lookup), alpha=0.1, top_k=0.2)
    assert torch.equal(again.result.x_adv, first.result.x_adv)
    assert not first.result.x_adv.requires_grad
    assert (first.predict_queries, first.explain_queries, first.pool_queries) == (6, 3, 6)  # x and x_hat; x_bar


def test_the_attack_module_imports_no_model_or_explainer():
    tree = ast.parse(Path(attack.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | \
               {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported == {"__future__", "math", "collections.abc", "dataclasses", "torch", "core.attacks.goals",
                        "core.attacks.result", "core.errors", "core.validate"}
    assert not [name for name, p in inspect.signature(exiaa).parameters.items() if p.annotation in ("nn.Module",)]


def test_the_gaussian_baseline_is_reproducible_from_its_seeds_and_changes_as_many_entries():
    x = images(2, 0)
    counts = torch.tensor([[5, 40], [1, 192]])
    first, mask = gaussian_injection(x, counts, [0.1, 0.5], seeds=[7, 8])
    again, _ = gaussian_injection(x, counts, [0.1, 0.5], seeds=[7, 8])
    other, _ = gaussian_injection(x, counts, [0.1, 0.5], seeds=[7, 9])
    assert torch.equal(first, again)  # same seeds, same draw
    assert torch.equal(other[0], first[0]) and not torch.equal(other[1], first[1])  # a seed is one image's
    assert mask.flatten(2).sum(2).tolist() == counts.tolist()  # exactly m random entries, as the attack's
    order, noise = attack.noise(torch.zeros(1, 3, 224, 224), [0], mean=0.5, std=0.25)
    assert sorted(order[0].tolist()) == list(range(3 * 224 * 224))  # a permutation of the entries
    assert float(noise.mean()) == pytest.approx(0.5, abs=0.005) and float(noise.std()) == pytest.approx(0.25, rel=0.01)


def test_bad_alpha_top_k_and_pools_are_refused_and_change_nothing():
    model = toy_classifier()
    predict, explain = black_box(model, "saliency", {})
    x, pool = images(2, 0), images(4, 1)
    kept = x.clone()
    candidates = Candidates.of(pool, predict)
    for bad in (0, 1.5, -0.1, float("nan"), "0.1", True):
        with pytest.raises(InputError, match="alpha"):
            exiaa(x, predict, explain, candidates, alpha=bad, top_k=0.1)
        with pytest.raises(InputError, match="top-k"):
            exiaa(x, predict, explain, candidates, alpha=0.1, top_k=bad)
    grey = Candidates(candidates.probabilities, lambda i: images(len(i), 2, channels=1))  # another input size
    with pytest.raises(InputError, match=r"pool's images are \(1, 8, 8\), the attacked ones \(3, 8, 8\)"):
        exiaa(x, predict, explain, grey, alpha=0.1, top_k=0.1)
    with pytest.raises(InputError, match="holds no images"):
        exiaa(x, predict, explain, Candidates(candidates.probabilities[:0], candidates.images), alpha=0.1, top_k=0.1)
    assert torch.equal(x, kept)
