"""StrAttack (core.attacks.strattack): group soft thresholding by hand (plain and shifted grids), the attack
on a small model (box, goal, untouched input, the binary search's least-l2 keep), refusals."""
import pytest
import torch
from torch import nn

from core.attacks.strattack import group_shrink, strattack
from core.errors import InputError
from tests.devices import DEVICES


def test_group_shrink_by_hand():
    b = torch.zeros(1, 2, 4, 4)
    b[0, 0, 0, 0], b[0, 1, 1, 1] = 3.0, 4.0  # one 2x2 group of norm 5
    b[0, 0, 2, 2] = 0.5  # another of norm 0.5
    out = group_shrink(b, 1.0, 2, (0, 0))
    torch.testing.assert_close(out[0, :, :2, :2], b[0, :, :2, :2] * 0.8)  # (1 - 1 / 5)
    assert torch.equal(out[0, :, 2:, 2:], torch.zeros(2, 2, 2))  # norm 0.5 <= tau: the group vanishes
    # shifted by one: the groups are rows/cols {0}, {1, 2}, {3}; (0, 0) is a group of its own (norm 3)
    shifted = group_shrink(b, 1.0, 2, (1, 1))
    torch.testing.assert_close(shifted[0, 0, 0, 0], torch.tensor(3.0 * 2 / 3))
    # the group rows 1-2 x cols 1-2 holds 4.0 and 0.5: norm sqrt(16.25)
    scale = 1 - 1 / 16.25 ** 0.5
    torch.testing.assert_close(shifted[0, 1, 1, 1], torch.tensor(4.0 * scale))
    torch.testing.assert_close(shifted[0, 0, 2, 2], torch.tensor(0.5 * scale))


def small_model(device="cpu") -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 3)).eval().to(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("overlap", [True, False])
def test_strattack_fools_a_small_model(device, overlap):
    model = small_model(device)
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(1)).to(device)
    before = x.clone()
    y = model(x).argmax(1)
    result = strattack(model, x, y, c=50.0, steps=40, search_steps=3, overlap=overlap)
    assert torch.equal(x, before)
    assert result.success.all()
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1 and torch.equal(result.delta, result.x_adv - x)
    assert torch.equal(model(result.x_adv).argmax(1) != y, result.success)
    assert (result.delta.abs() <= 0.5 + 1e-6).all()  # eps
    # more search steps can only keep an adversary of equal or smaller l2 norm
    longer = strattack(model, x, y, c=50.0, steps=40, search_steps=5, overlap=overlap)
    assert (longer.delta.flatten(1).norm(dim=1) <= result.delta.flatten(1).norm(dim=1) + 1e-6).all()
    target = (y + 1) % 3
    aimed = strattack(model, x, y, target=target, c=50.0, steps=40, search_steps=3, overlap=overlap)
    assert torch.equal(model(aimed.x_adv).argmax(1) == target, aimed.success) and aimed.success.any()


def test_strattack_refuses_bad_settings():
    model = small_model()
    x = torch.rand(1, 1, 8, 8)
    for settings, words in [({"c": 0.0}, "c must"), ({"size": 9}, "group size"), ({"rho": -1.0}, "rho"),
                            ({"search_steps": 0}, "search steps"), ({"tau": float("nan")}, "tau")]:
        with pytest.raises(InputError, match=words):
            strattack(model, x, torch.tensor([0]), **settings)
