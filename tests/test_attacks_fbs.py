"""FBS (core.attacks.fbs): each closed-form prox against brute-force minimisation on a fine grid, the
thresholds and their inverse, the CW loss by hand, and the attack's properties (box, no mutation,
early stop, targeted goal, refusals) on every device."""
import pytest
import torch
from torch import nn

from core.attacks.fbs import critical_lambda, cw_loss, fbs, prox, threshold
from core.errors import InputError
from tests.devices import DEVICES

NORMS = (0.0, 0.5, 2 / 3, 1.0)


def objective(y, w, lam, p):
    """``1/2 (y - w)^2 + lam |y|^p`` with ``|0|^0 = 0``."""
    penalty = (y != 0).double() if p == 0 else y.abs() ** p
    return 0.5 * (y - w) ** 2 + lam * penalty


@pytest.mark.parametrize("p", NORMS)
@pytest.mark.parametrize("lam", [0.05, 0.8, 2.5])
def test_prox_is_the_minimiser_found_on_a_fine_grid(p, lam):
    grid = torch.cat([torch.linspace(-8, 8, 160_001, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)])
    w = torch.linspace(-6, 6, 121, dtype=torch.float64) + 0.0123  # off the grid's points
    values = objective(grid[None], w[:, None], lam, p)
    best, where = values.min(1)
    y = prox(w, lam, p)
    assert (objective(y, w, lam, p) <= best + 1e-9).all()  # never worse than the best grid point (step 1e-4)
    # away from the threshold, where the zero and the best non-zero point tie, the minimisers agree too
    nonzero = values.masked_fill(grid[None] == 0, float("inf")).min(1).values
    clear = (objective(torch.zeros_like(w), w, lam, p) - nonzero).abs() > 1e-3
    assert clear.sum() > 60
    torch.testing.assert_close(y[clear], grid[where][clear], rtol=0, atol=2e-4)
    assert torch.equal((y == 0)[clear], (w.abs() <= threshold(lam, p))[clear])


@pytest.mark.parametrize("p", NORMS)
def test_threshold_and_critical_lambda_are_inverse(p):
    a = torch.tensor([0.01, 0.3, 1.0, 4.0], dtype=torch.float64)
    lam = critical_lambda(a, p)
    torch.testing.assert_close(torch.as_tensor(threshold(lam, p)), a)
    assert (prox(a * 1.001, lam, p) != 0).all() and (prox(a * 0.999, lam, p) == 0).all()


def test_cw_loss_by_hand():
    logits = torch.tensor([[3.0, 1.0, 2.5], [0.0, 4.0, 1.0]])
    torch.testing.assert_close(cw_loss(logits, torch.tensor([0, 0]), False), torch.tensor([0.5, 0.0]))
    torch.testing.assert_close(cw_loss(logits, torch.tensor([2, 2]), True), torch.tensor([0.5, 3.0]))
    torch.testing.assert_close(cw_loss(logits, torch.tensor([0, 0]), False, kappa=1.0), torch.tensor([1.5, 0.0]))


def small_model(device="cpu") -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 3)).eval().to(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("p", NORMS)
def test_fbs_fools_a_small_model_inside_the_box_without_touching_its_input(device, p):
    model = small_model(device)
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(2)).to(device)
    before = x.clone()
    y = model(x).argmax(1)
    result = fbs(model, x, y, p=p, lam=1e-3, alpha=0.5, steps=300)
    assert torch.equal(x, before)
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    assert torch.equal(result.delta, result.x_adv - x)
    assert result.success.all()
    assert torch.equal(model(result.x_adv).argmax(1) != y, result.success)
    assert (result.iterations < 300).all()  # each image stopped at its first success


def test_fbs_targeted_reaches_the_target_and_sparser_with_larger_lambda():
    model = small_model()
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    y = model(x).argmax(1)
    target = (y + 1) % 3
    dense = fbs(model, x, y, target=target, p=1.0, lam=0.0, alpha=0.5, steps=300)
    sparse = fbs(model, x, y, target=target, p=1.0, lam=0.05, alpha=0.5, steps=300)
    for r in (dense, sparse):
        assert torch.equal(r.success, model(r.x_adv).argmax(1) == target)
    both = dense.success & sparse.success
    assert both.sum() >= 4
    assert (sparse.delta[both] != 0).sum() < (dense.delta[both] != 0).sum()


@pytest.mark.parametrize("settings, words", [({"p": 0.3}, "p must be"), ({"lam": -1.0}, "lambda"),
                                             ({"alpha": 0.0}, "step size"), ({"steps": 0}, "number of steps"),
                                             ({"momentum": "heavy"}, "momentum")])
def test_fbs_refuses_bad_settings(settings, words):
    model = small_model()
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(InputError, match=words):
        fbs(model, x, torch.tensor([0, 1]), **settings)
    with pytest.raises(InputError, match="target"):
        fbs(model, x, torch.tensor([0, 1]), target=torch.tensor([0, 2]))
