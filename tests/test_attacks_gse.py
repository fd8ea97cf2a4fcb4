"""GSE (core.attacks.gse): AdjustLambda by hand, V fixed after k_hat with exact zeros outside it, the
paper's claim on mnist_cnn against FWnucl, the box, untouched inputs, targeted goals and refusals."""
import pytest
import torch
from torch import nn

from core.attacks.fwnucl import fwnucl
from core.attacks.gse import adjust_lambda, gaussian_kernel, gse, preset_for
from core.errors import InputError
from core.metrics.sparsity import changed_pixels
from tests.devices import DEVICES


def test_adjust_lambda_by_hand():
    kernel = gaussian_kernel(5, 1.5)
    assert abs(float(kernel.sum()) - 1) < 1e-6 and kernel[0, 0, 2, 2] == kernel.max()
    w = torch.zeros(1, 3, 12, 12)
    w[0, 1, 5, 5] = 0.3  # one changed pixel, in one channel
    lam = torch.full((1, 12, 12), 2.0)
    out = adjust_lambda(lam, w, 0.25, kernel)
    # within the kernel's reach: lambda / (1 + M) with M the kernel's weight at that offset
    torch.testing.assert_close(out[0, 5, 5], 2.0 / (1 + kernel[0, 0, 2, 2]))
    torch.testing.assert_close(out[0, 3, 7], 2.0 / (1 + kernel[0, 0, 0, 4]))
    # out of reach: lambda / q
    assert torch.equal(out[0, 0, 0], torch.tensor(8.0)) and torch.equal(out[0, 5, 8], torch.tensor(8.0))
    assert ((out < 2.0).sum() == 25) and torch.equal(w.abs().sum(), torch.tensor(0.3))


class Unfoolable(nn.Module):
    """A small CNN with a bias of 1e4 on class 0: no image in [0, 1] leaves class 0, so GSE runs every step.
    It sees its input's centre (a quarter of each side) at full weight and the rest at weight 0.05, so that
    its gradient is non-zero everywhere and largest in the centre."""

    def __init__(self, side: int = 12):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(4 * side ** 2, 3))

    def forward(self, x):
        h, w = x.shape[-2:]
        weight = torch.full((h, w), 0.05, device=x.device)
        weight[3 * h // 8: 5 * h // 8, 3 * w // 8: 5 * w // 8] = 1.0
        return self.net(x * weight) + torch.tensor([1e4, 0.0, 0.0], device=x.device)


@pytest.mark.parametrize("device", DEVICES)
def test_nothing_outside_v_changes_after_k_hat(device):
    model = Unfoolable(24).eval().to(device)
    x = torch.rand(3, 3, 24, 24, generator=torch.Generator().manual_seed(1)).to(device)
    seen = {}

    def observe(k, rows, w, lam, outside):
        seen[k] = (rows.clone(), w.clone(), None if outside is None else outside.clone())

    result = gse(model, x, torch.zeros(3, dtype=torch.long), k_hat=6, steps=20, search_steps=1, step=0.05,
                 mu=0.0, q=0.25, lam_fraction=0.5, observe=observe)
    assert not result.success.any() and torch.equal(result.delta, torch.zeros_like(x))
    assert all(seen[k][2] is None for k in range(6))
    fixed = seen[6][2]
    assert fixed.any() and not fixed.all()  # V is a proper part of the image
    for k in range(6, 20):
        rows, w, outside = seen[k]
        assert torch.equal(rows, torch.arange(3, device=device)) and torch.equal(outside, fixed)
        assert torch.equal(w.masked_select(outside.expand_as(w)), torch.zeros(int(outside.sum()) * 3, device=device))
        assert w.abs().sum() > 0  # the NAG steps move the pixels in V
    moved = (seen[19][1] != seen[6][1]).any(1, keepdim=True)
    assert not (moved & fixed).any() and moved.any()


def mnist(n):
    from core.data import load_digits
    from core.data.mnist import digit_label
    from core.models import load

    model = load("mnist_cnn", device="cpu").model
    x = torch.cat([im.tensor for im in load_digits(n)])
    return model, x, torch.tensor([digit_label(i) for i in range(n)])


def test_gse_fools_mnist_cnn_with_fewer_pixels_than_fwnucl():
    model, x, y = mnist(100)
    before = x.clone()
    assert preset_for(x) == "mnist"
    result = gse(model, x, y)
    assert torch.equal(x, before)
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1 and torch.equal(result.delta, result.x_adv - x)
    with torch.no_grad():
        assert torch.equal(model(result.x_adv).argmax(1) != y, result.success)
    assert result.success.float().mean() >= 0.95
    baseline = fwnucl(model, x, y, steps=100, step_rule="open")  # the paper's eps, the open-loop step for speed
    both = result.success & baseline.success & (model(x).argmax(1) == y)
    assert both.sum() >= 10
    assert changed_pixels(result.delta)[both].float().mean() < changed_pixels(baseline.delta)[both].float().mean()


@pytest.mark.parametrize("device", DEVICES)
def test_gse_targeted_reaches_its_targets(device):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 144, 3)).eval()
    model = model.to(device)
    x = torch.rand(4, 3, 12, 12, generator=torch.Generator().manual_seed(2)).to(device)
    y = model(x).argmax(1)
    target = (y + 1) % 3
    result = gse(model, x, y, target=target, search_steps=3, step=0.05)
    assert result.success.all() and torch.equal(model(result.x_adv).argmax(1), target)
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1


@pytest.mark.parametrize("settings, words", [({"q": 0.0}, "q must be"), ({"q": 1.5}, "q must be"),
                                             ({"mu": -1.0}, "mu"), ({"step": 0.0}, "step size"),
                                             ({"k_hat": -1}, "k_hat"), ({"p": 0.7}, "p must be"),
                                             ({"blur_size": 4}, "odd"), ({"preset": "svhn"}, "preset"),
                                             ({"penalty": "l1"}, "penalty"), ({"search_factor": 1.0}, "factor")])
def test_gse_refuses_bad_settings(settings, words):
    model = Unfoolable().eval()
    with pytest.raises(InputError, match=words):
        gse(model, torch.rand(1, 3, 12, 12), torch.tensor([0]), **settings)
    with pytest.raises(InputError, match="(?i)pixel values"):
        gse(model, torch.rand(1, 3, 12, 12) + 1, torch.tensor([0]))
