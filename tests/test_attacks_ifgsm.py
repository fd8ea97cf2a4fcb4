"""I-FGSM (eq. 1): torchattacks' BIM iterates, the l_inf ball, Kurakin's defaults, and it fools a digit model."""
import pytest
import torch
import torchattacks
from torch import nn

from core.attacks.ifgsm import ifgsm, kurakin_steps
from core.data import mnist_split
from core.errors import InputError
from core.models import load
from tests.devices import DEVICES


def small_model(device="cpu") -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 3)).eval().to(device)


def test_ifgsm_equals_torchattacks_bim():
    model = small_model()
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    y = model(x).argmax(1)
    reference = torchattacks.BIM(model, eps=0.06, alpha=1 / 255, steps=20)(x, y)
    ours = ifgsm(model, x, y, eps=0.06)
    assert ours.params["steps"] == 20
    torch.testing.assert_close(ours.x_adv, reference, rtol=0, atol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_ifgsm_stays_in_the_ball_and_in_range_and_leaves_inputs(device):
    model = small_model(device)
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(2)).to(device)
    before = x.clone()
    y = model(x).argmax(1)
    for eps in (0.01, 0.06, 0.12):
        result = ifgsm(model, x, y, eps=eps, alpha=0.05, steps=7)
        assert float(result.delta.abs().max()) <= eps and result.x_adv.min() >= 0 and result.x_adv.max() <= 1
        assert torch.equal(result.x_adv, x + result.delta) and result.x_adv.device == x.device
    assert torch.equal(x, before)


def test_kurakin_steps_by_hand():
    assert kurakin_steps(4 / 255) == 5  # min(8, 5)
    assert kurakin_steps(16 / 255) == 20  # min(20, 20)
    assert kurakin_steps(0.12) == 35  # min(34.6, 38.25) rounded up
    assert kurakin_steps(0.0) == 1


def test_ifgsm_fools_the_digit_model_more_as_eps_grows_and_refuses_bad_budgets():
    model = load("mnist_cnn", device="cpu").model
    x, y = (t[:20] for t in mnist_split("test"))
    fooled = [float(ifgsm(model, x, y, eps=eps).success.float().mean()) for eps in (0.01, 0.12, 0.3)]
    assert fooled[0] <= fooled[1] <= fooled[2] and fooled[2] >= 0.9
    with pytest.raises(InputError):
        ifgsm(model, x, y, eps=1.5)
