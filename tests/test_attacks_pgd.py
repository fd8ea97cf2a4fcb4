"""PGD: the same iterates as torchattacks' reference implementation, budgets, targeted mode, seeds."""
import pytest
import torch
import torchattacks
from torch import nn

from core.attacks.budget import LinfBall, largest_at_most, within_budget
from core.attacks.pgd import pgd
from core.errors import InputError


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 64, 4)).eval()


def test_pgd_equals_torchattacks_without_random_start():
    model = small_model()
    x = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    y = model(x).argmax(1)
    reference = torchattacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=7, random_start=False)(x, y)
    ours = pgd(model, x, y, eps=8 / 255, alpha=2 / 255, steps=7, random_start=False)
    torch.testing.assert_close(ours.x_adv, reference, rtol=0, atol=1e-6)
    assert torch.equal(ours.success, model(ours.x_adv).argmax(1) != y)


def test_pgd_budget_seed_and_no_mutation():
    model = small_model()
    x = torch.rand(4, 3, 8, 8)
    before = x.clone()
    y = model(x).argmax(1)
    a = pgd(model, x, y, eps=4 / 255, steps=5, seed=3)
    b = pgd(model, x, y, eps=4 / 255, steps=5, seed=3)
    c = pgd(model, x, y, eps=4 / 255, steps=5, seed=4)
    assert torch.equal(x, before)
    assert torch.equal(a.x_adv, b.x_adv) and not torch.equal(a.x_adv, c.x_adv)
    assert (a.delta.abs() <= 4 / 255).all() and a.x_adv.min() >= 0 and a.x_adv.max() <= 1
    tracked = pgd(model, x.clone().requires_grad_(), y, eps=4 / 255, steps=5, seed=3)
    assert torch.equal(tracked.delta, a.delta) and not tracked.delta.requires_grad  # no graph kept


def test_targeted_pgd_reaches_the_target_and_bad_parameters_are_refused():
    model = small_model()
    x = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    y = model(x).argmax(1)
    target = (y + 1) % 4
    result = pgd(model, x, y, target=target, eps=0.5, alpha=0.02, steps=60, early_stop=True)
    assert result.success.all()
    assert torch.equal(model(result.x_adv).argmax(1), target)
    with pytest.raises(InputError):
        pgd(model, x, y, eps=2.0)
    with pytest.raises(InputError):
        pgd(model, x * float("nan"), y)


def test_the_returned_images_hold_the_budget_exactly_where_x_plus_eps_rounds_past_it():
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 0.9
    x[0, 0, 0, :6] = torch.tensor([0.0401, 0.05, 0.06, 0.07, 0.0785, 0.002])  # x - eps is not a float32 there
    eps = 10 / 255
    limit = largest_at_most(eps, torch.float32)
    assert torch.tensor(eps).item() > eps > limit  # the budget itself rounds up in float32
    for towards in (1.0, -1.0):
        projected = LinfBall(eps)(x, x + towards)  # every pixel at x +- eps, rounded to float32
        past = (projected.double() - x.double()).abs() > limit
        assert past.any()  # what the projection alone gives (and torchattacks with it)
        held = within_budget(x, projected, eps)
        assert ((held.double() - x.double()).abs() <= eps).all()  # in exact arithmetic
        assert ((held - x).abs().double() <= eps).all()  # and as float32 rounds the difference
        assert torch.equal(held != projected, past) and (held - projected).abs().max() < 1e-7  # where needed

def test_a_budget_given_as_a_0d_tensor_is_that_number_without_a_warning():
    import warnings

    model = small_model()
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    y = model(x).argmax(1)
    eps = torch.tensor(8 / 255)  # float32: the budget is the number it holds
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        given = pgd(model, x, y, eps=eps, steps=4, random_start=False)
    assert torch.equal(given.x_adv, pgd(model, x, y, eps=eps.item(), steps=4, random_start=False).x_adv)
    assert (given.delta.abs() <= eps).all()


class _RootOfPixels(nn.Module):
    """Logits of the square roots of the pixels: finite everywhere, gradient infinite at a 0 pixel."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(3 * 4 * 4, 2)

    def forward(self, x):
        return self.head(x.sqrt().flatten(1))


def test_an_undefined_gradient_is_refused_naming_the_image_not_turned_into_a_still_image():
    """``sign`` makes a NaN gradient 0, so the image would stay put and count as a plain miss."""
    torch.manual_seed(0)
    x = torch.rand(3, 3, 4, 4) * 0.5 + 0.25
    x[1, 0, 0, 0] = 0.0  # image 1 has a dark pixel: d sqrt / dx = inf there
    model = _RootOfPixels().eval()
    with pytest.raises(InputError, match=r"gradient was NaN or infinite at some step for image\(s\) 1 of the batch"):
        pgd(model, x, torch.zeros(3, dtype=torch.long), eps=8 / 255, alpha=2 / 255, steps=3)
    pgd(model, x[[0, 2]], torch.zeros(2, dtype=torch.long), eps=8 / 255, alpha=2 / 255, steps=3)
