"""Coarse-to-fine attacks: budgets, goals, monotone LRP loss, no mutation, epsilon 0."""
import pytest
import torch
from torch import nn

from c2f_toy import TOY, toy_c2f, toy_images
from core.attacks.c2f import C2FLabels
from core.attacks.deepfool import deepfool, deepfool_c2f
from core.attacks.lrp_c2f import lrp_c2f, lrp_loss, lrp_norms, lrpc, lrpf
from core.attacks.pgd import pgd, pgd_c2f
from core.errors import InputError
from core.explain import relevance
from core.explain.lrp import LRPRules
from core.models.hierarchy import HierarchicalClassifier
from core.models.wrapper import ImageClassifier
from devices import DEVICES


def assert_within_budget(result, x, eps):
    assert (result.delta.abs() <= eps).all() and ((result.x_adv - x).abs() <= eps).all()  # exactly, in float32
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    torch.testing.assert_close(result.x_adv, x + result.delta)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("attack", [lrpc, lrpf, lambda hc, x, **kw: lrpc(hc, x, step_rule="scaled", **kw),
                                    lambda hc, x, **kw: lrpc(hc, x, step_rule="sign", **kw),
                                    lambda hc, x, **kw: pgd_c2f(hc, x, level="fine", **kw)])
def test_budget_holds_exactly_and_inputs_are_not_mutated(attack, device):
    hc, x = toy_c2f().to(device), toy_images().to(device)
    before = x.clone()
    result = attack(hc, x, eps=8 / 255, steps=10)
    assert torch.equal(x, before)
    assert_within_budget(result, x, 8 / 255)


def mnist_c2f(device: str = "cpu"):
    from core.data.mnist import mnist_split
    from core.models import load

    return load("mnist_cnn", hierarchy="mnist_c2f", device=device).model, mnist_split("test")[0][:16].to(device)


@pytest.mark.parametrize("device", DEVICES)
def test_lrpc_lowers_its_loss_and_fools_the_coarse_classifier(device):
    hc, x = mnist_c2f(device)
    labels = C2FLabels.of(hc, x)
    result = lrpc(hc, x, eps=40 / 255, steps=30, early_stop=False)
    curve = result.history["lrp_loss"]
    assert curve[-1] < 0.5 * curve[0]
    # the recorded loss is the poster's L_C of the relevance maps (logit seed) at the iterates
    r = [relevance(hc.coarse, z, t, "lrp", composite="zplus_zbox", init="logit")
         for z in (x, result.x_adv) for t in (labels.r_org, labels.r_adv)]
    before, after = (float(lrp_loss(torch.stack(pair), 2.0).mean()) for pair in (r[:2], r[2:]))
    assert before == pytest.approx(float(curve[0]), rel=1e-4)
    assert after < before
    assert result.success.float().mean() >= 0.5
    with torch.no_grad():
        assert torch.equal(hc.coarse(result.x_adv).argmax(1) != labels.r_org, result.success)


@pytest.mark.parametrize("device", DEVICES)
def test_every_lrpf_success_keeps_the_coarse_class_and_changes_the_fine_one(device):
    hc, x = mnist_c2f(device)
    labels = C2FLabels.of(hc, x)
    result = lrpf(hc, x, eps=40 / 255, steps=30)
    assert result.success.any()
    with torch.no_grad():
        coarse, fine = hc.logits(result.x_adv, labels.r_org)
    ok = result.success
    assert torch.equal(coarse.argmax(1)[ok], labels.r_org[ok])
    assert (fine.argmax(1)[ok] != labels.f_org[ok]).all()
    assert torch.equal(result.labels["coarse_after"], coarse.argmax(1))


def test_lrpc_aimed_at_a_chosen_coarse_class_builds_its_evidence_and_lands_there_more_often():
    hc, x = mnist_c2f()
    target = 1  # "straight strokes": the runner-up of only 4 of the 12 digits outside it
    x = x[C2FLabels.of(hc, x).r_org != target]
    runner_up = lrpc(hc, x, eps=40 / 255, steps=30)
    aimed = lrpc(hc, x, eps=40 / 255, steps=30, target=target)
    assert (aimed.labels["r_adv"] == target).all() and aimed.params["target"] == target
    labels = C2FLabels.of(hc, x)
    r = [relevance(hc.coarse, x, t, "lrp", composite="zplus_zbox", init="logit")
         for t in (labels.r_org, torch.full_like(labels.r_org, target))]
    assert lrp_loss(torch.stack(r), 2.0).mean() == pytest.approx(float(aimed.history["lrp_loss"][0]), rel=1e-4)
    landed = [int((result.labels["coarse_after"] == target).sum()) for result in (runner_up, aimed)]
    assert landed[1] >= landed[0] + 2  # measured with l2 steps: 3 of 12 without the aim, 5 with it (sign: 3, 8)


def test_lrpf_aimed_at_a_chosen_fine_class_keeps_the_coarse_class():
    hc, x = mnist_c2f()
    labels = C2FLabels.of(hc, x)
    x = x[labels.r_org == 0]  # "closed loops": 4 fine classes
    labels = C2FLabels.of(hc, x)
    fine = torch.arange(4).expand(len(x), 4)
    other = (fine != labels.f_org[:, None]) & (fine != labels.f_adv[:, None])
    target = fine.masked_fill(~other, 4).amin(1)  # the first fine class that is neither f_org nor the runner-up
    result = lrpf(hc, x, eps=40 / 255, steps=30, target=target)
    assert torch.equal(result.labels["f_adv"], target) and result.success.any()
    with torch.no_grad():
        assert torch.equal(hc.coarse(result.x_adv[result.success]).argmax(1), labels.r_org[result.success])


@pytest.mark.parametrize("target, level, message", [
    (0, "coarse", "is its original class"), (3, "coarse", "not among its 3 coarse classes"),
    (-1, "coarse", "not among"), (4, "fine", "not among its 4 fine classes"), (1.0, "coarse", "class index"),
    (True, "coarse", "class index"), ([1, 2], "coarse", r"one per image \(1\)")])
def test_a_target_that_is_no_other_class_of_the_image_is_refused(target, level, message):
    hc, x = mnist_c2f()
    x = x[C2FLabels.of(hc, x).r_org == 0][:1]  # coarse class 0 has 4 fine classes
    original = int(C2FLabels.of(hc, x).original(level)[0])
    if message == "is its original class":
        target = original
    with pytest.raises(InputError, match=message):
        lrp_c2f(hc, x, level=level, target=target)


@pytest.mark.parametrize("level", ["coarse", "fine"])
def test_epsilon_zero_returns_the_input(level):
    hc, x = toy_c2f(), toy_images()
    for result in (lrpc(hc, x, eps=0.0, steps=3), pgd_c2f(hc, x, level=level, eps=0.0, steps=3)):
        assert torch.equal(result.x_adv, x)
        assert not result.success.any()


def test_deepfool_c2f_goals_hold_for_every_success():
    hc, x = toy_c2f(), toy_images(16)
    labels = C2FLabels.of(hc, x)
    dfc = deepfool_c2f(hc, x, level="coarse")
    dff = deepfool_c2f(hc, x, level="fine")
    with torch.no_grad():
        assert (hc.coarse(dfc.x_adv).argmax(1)[dfc.success] != labels.r_org[dfc.success]).all()
        coarse, fine = hc.logits(dff.x_adv, labels.r_org)
    assert dfc.success.float().mean() > 0.9
    kept = dff.success
    assert torch.equal(coarse.argmax(1)[kept], labels.r_org[kept])
    assert (fine.argmax(1)[kept] != labels.f_org[kept]).all()
    assert dfc.x_adv.min() >= 0 and dfc.x_adv.max() <= 1


def test_step_rules():
    from core.attacks.loop import direction

    g = torch.tensor([[[[0.5, -2.0], [0.0, 1.0]]], [[[1e-3, 0.0], [0.0, -1e-3]]]])
    torch.testing.assert_close(direction(g, "sign"), g.sign())
    torch.testing.assert_close(direction(g, "scaled")[0], g[0] / 2.0)
    torch.testing.assert_close(direction(g, "scaled")[1], g[1] / 1e-3)
    # l2: sqrt(D) g / ||g||_2, D = 4: the first row's norm is sqrt(0.25 + 4 + 1) = sqrt(5.25)
    torch.testing.assert_close(direction(g, "l2")[0], g[0] * 2.0 / 5.25 ** 0.5)
    assert direction(g, "l2")[1].norm() == pytest.approx(2.0)  # sqrt(D): a sign step's with no zero gradient


def test_keep_success_returns_the_last_iterate_that_met_the_goal():
    from core.attacks.budget import LinfBall
    from core.attacks.loop import StepOutcome, projected_ascent

    class Oscillating:
        """Goal met only at step 2 (pixels near 0.5 + 2 alpha); the loop then walks past it."""

        def step(self, x_adv, rows):
            met = (x_adv.mean(dim=(1, 2, 3)) - 0.52).abs() < 1e-3
            return StepOutcome(x_adv.mean(dim=(1, 2, 3)), met, torch.ones_like(x_adv))

        def success(self, x_adv, rows):
            mean = x_adv.mean(dim=(1, 2, 3))
            return (mean - 0.52).abs() < 1e-3, (mean,)

    x = torch.full((2, 1, 2, 2), 0.5)
    ball = LinfBall(0.1)
    plain = projected_ascent(x, Oscillating(), projection=ball, alpha=0.01, steps=6, early_stop=False)
    kept = projected_ascent(x, Oscillating(), projection=ball, alpha=0.01, steps=6, early_stop=False,
                            keep_success=True)
    assert not plain.success.any()
    assert kept.success.all()
    torch.testing.assert_close(kept.x_adv, torch.full_like(x, 0.52))


def test_lrp_loss_matches_the_posters_formula_by_hand():
    r_org = torch.tensor([[[[3.0, -4.0]]]])  # ||R+||_2 = 3, ||R-||_2 = 4
    r_adv = torch.tensor([[[[1.0, -2.0]]]])  # ||R+||_2 = 1, ||R-||_2 = 2
    # L = 3 - 1 - 4 + 2 = 0
    assert lrp_loss(torch.stack([r_org, r_adv]), 2.0).item() == pytest.approx(0.0)
    r_adv2 = torch.tensor([[[[0.0, -1.0]]]])
    assert lrp_loss(torch.stack([r_org, r_adv2]), 2.0).item() == pytest.approx(3 - 0 - 4 + 1)


@pytest.mark.parametrize("p", [1.5, 2.0, 30.0, 1e6])
def test_lrp_norms_of_small_relevance_hold_for_large_p_with_their_gradient(p):
    """Relevance values of 1e-5 (as on the shipped model) to the power 30 vanish in float32: the norm
    and its gradient must not (the float64 reference; for p = 1e6 the norm lies within n^(1/p) of the
    largest value)."""
    torch.manual_seed(0)
    maps = torch.randn(2, 3, 3, 8, 8) * 1e-5
    x = maps.clone().requires_grad_()
    positive, negative = lrp_norms(x, p)
    (positive - 2 * negative).sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad != 0).any()
    if p == 1e6:
        largest = maps.clamp(min=0).flatten(2).amax(2)
        assert (positive >= largest * (1 - 1e-6)).all() and (positive <= largest * 192 ** (1 / p) * (1 + 1e-6)).all()
        return
    x64 = maps.double().requires_grad_()
    norms64 = [torch.linalg.vector_norm(t.flatten(2), ord=p, dim=2) for t in (x64.clamp(min=0), x64.clamp(max=0))]
    (norms64[0] - 2 * norms64[1]).sum().backward()
    torch.testing.assert_close(positive.double(), norms64[0], rtol=1e-5, atol=0)
    torch.testing.assert_close(negative.double(), norms64[1], rtol=1e-5, atol=0)
    torch.testing.assert_close(x.grad.double(), x64.grad, rtol=1e-4, atol=1e-4 * x64.grad.abs().max().item())


@pytest.mark.parametrize("attack", [lrpc, lrpf])
def test_lrp_attacks_run_on_the_embedded_imagenet_c2f_model(attack):
    from core.data import load_gallery
    from core.models import load

    hc = load("efficientnet_lite0", hierarchy="imagenet_c2f", device="cpu").model
    x = load_gallery("coffee").tensor
    result = attack(hc, x, eps=10 / 255, steps=2)
    assert (result.delta.abs() <= 10 / 255).all() and torch.isfinite(result.x_adv).all()
    assert result.delta.abs().max() > 0 and torch.isfinite(result.history["lrp_loss"]).all()


def test_lrpc_explains_signed_hidden_inputs_as_asked():
    """With a linear bottleneck (a convolution reading another's signed output) the attack's loss is L_C of
    maps made with its ``signed_inputs``, and the two treatments give different losses."""
    torch.manual_seed(7)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(8 * 64, 6))
    flat = ImageClassifier(net, (0.5,) * 3, (0.25,) * 3).eval()
    hc = HierarchicalClassifier.from_flat(flat, TOY, 6)
    x = toy_images(4)
    labels = C2FLabels.of(hc, x)
    first_loss = {}
    for signed_inputs in ("split", "as_written"):
        result = lrpc(hc, x, eps=10 / 255, steps=1, rules=LRPRules(signed_inputs=signed_inputs))
        assert result.params["signed_inputs"] == signed_inputs
        maps = torch.stack([relevance(hc.coarse, x, t, "lrp", composite="zplus_zbox", init="logit",
                                      signed_inputs=signed_inputs) for t in (labels.r_org, labels.r_adv)])
        first_loss[signed_inputs] = float(result.history["lrp_loss"][0])
        assert first_loss[signed_inputs] == pytest.approx(float(lrp_loss(maps, 2.0).mean()), rel=1e-4)
    assert first_loss["split"] != pytest.approx(first_loss["as_written"], rel=1e-3)
    with pytest.raises(InputError, match="signed_inputs"):
        lrpc(hc, x, rules=LRPRules(signed_inputs="literal"))


@pytest.mark.parametrize("attack", [lrpc, deepfool_c2f, pgd_c2f])
def test_an_empty_batch_is_refused_with_a_message(attack):
    with pytest.raises(InputError, match="no pixels"):
        attack(toy_c2f(), toy_images()[:0])


def toy_with_a_lone_fine_class() -> tuple[HierarchicalClassifier, torch.Tensor]:
    """``toy_c2f`` with class 2 raised until half the images fall in coarse class c, its only member."""
    hc, x = toy_c2f(), toy_images(8)
    with torch.no_grad():
        coarse = hc(x)
        lead = coarse[:, 2] - coarse[:, :2].amax(1)
        hc.flat.net[-1].bias[2] -= lead.sort().values[3:5].mean()  # between the 4th and 5th image's margins
    return hc, x


@pytest.mark.parametrize("attack", [lambda hc, x: lrpf(hc, x, eps=16 / 255, steps=10),
                                    lambda hc, x: pgd_c2f(hc, x, level="fine", eps=16 / 255, steps=10),
                                    lambda hc, x: pgd_c2f(hc, x, level="fine", eps=16 / 255, random_start=True),
                                    lambda hc, x: deepfool_c2f(hc, x, level="fine", steps=20)])
def test_images_whose_coarse_class_has_one_fine_class_are_left_unchanged_at_the_fine_level(attack):
    hc, x = toy_with_a_lone_fine_class()
    labels = C2FLabels.of(hc, x)
    alone = labels.r_org == 2
    assert alone.sum() == 4 and torch.equal(labels.attackable("fine"), ~alone)
    assert torch.equal(labels.f_adv[alone], labels.f_org[alone])  # no runner-up to push to
    result = attack(hc, x)
    assert torch.equal(result.x_adv[alone], x[alone]) and not result.success[alone].any()
    assert torch.isfinite(result.x_adv).all()  # DeepFool stepped by inf * 0 there
    assert (result.delta[~alone].flatten(1).abs().amax(1) > 0).all()  # the others are attacked


def toy_with_nan_outputs() -> HierarchicalClassifier:
    hc = toy_c2f()
    with torch.no_grad():
        hc.flat.net[-1].bias[4] = float("nan")
    return hc


@pytest.mark.parametrize("attack", [lrpc, lrpf, deepfool_c2f, pgd_c2f,
                                    lambda hc, x: deepfool(hc.flat, x),
                                    lambda hc, x: pgd(hc.flat, x, torch.zeros(len(x), dtype=torch.long))])
def test_a_model_with_nan_outputs_is_refused_with_a_message(attack):
    with pytest.raises(InputError, match=r"NaN or infinite outputs for image\(s\) 0, 1, 2"):
        attack(toy_with_nan_outputs(), toy_images(4))


@pytest.mark.parametrize("attack", [lrpc, deepfool_c2f, pgd_c2f])
def test_images_in_another_float_type_than_the_model_are_refused_with_a_message(attack):
    with pytest.raises(InputError, match="torch.float64 on cpu, the model's weights torch.float32"):
        attack(toy_c2f(), toy_images(2).double())


def test_infinite_step_sizes_and_overshoots_are_refused():
    hc, x = toy_c2f(), toy_images(2)
    with pytest.raises(InputError, match="positive and finite"):
        pgd_c2f(hc, x, alpha=float("inf"))
    with pytest.raises(InputError, match="overshoot must be finite and >= 0"):
        deepfool_c2f(hc, x, overshoot=float("inf"))
    for crossing in (float("inf"), -1e-4, float("nan")):
        with pytest.raises(InputError, match="crossing must be finite and >= 0"):
            deepfool_c2f(hc, x, crossing=crossing)
