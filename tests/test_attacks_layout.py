"""The layout PGD and DeepFool work in (core.attacks.layout): channels-last on a CPU, the usual
layout for networks that refuse it, and results handed back in the usual layout."""
import pytest
import torch
from torch import nn

from core.attacks.deepfool import deepfool
from core.attacks.pgd import pgd


class ViewNet(nn.Module):
    """Flattens a convolution's output with ``.view``, which a channels-last tensor refuses."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        h = self.conv(x).relu()
        return self.fc(h.view(h.shape[0], -1))


class LayoutSpy(ViewNet):
    """The same network with ``.reshape`` (any layout), recording whether each input is channels-last."""

    def __init__(self):
        super().__init__()
        self.channels_last: list[bool] = []

    def forward(self, x):
        self.channels_last.append(x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())
        h = self.conv(x).relu()
        return self.fc(h.reshape(h.shape[0], -1))


ATTACKS = {
    "pgd": lambda model, x, y: pgd(model, x, y, eps=0.5, alpha=0.05, steps=30, early_stop=True),
    "deepfool": lambda model, x, y: deepfool(model, x, y),
}


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_works_channels_last_on_a_cpu_and_returns_the_usual_layout(name):
    torch.manual_seed(2)
    spy = LayoutSpy().eval()
    x = torch.rand(4, 3, 6, 6)
    y = spy(x).argmax(1)
    spy.channels_last.clear()
    result = ATTACKS[name](spy, x, y)
    assert all(spy.channels_last[:-1]) and not spy.channels_last[-1]  # the faster layout, but for the last
    # pass, which judges the returned images as returned (in the usual layout)
    assert result.x_adv.is_contiguous() and result.delta.is_contiguous()  # callers may .view() them
    torch.testing.assert_close(result.x_adv, x + result.delta, rtol=0, atol=1e-7)
    assert result.success.all()
    from_channels_last = ATTACKS[name](spy, x.contiguous(memory_format=torch.channels_last), y)
    torch.testing.assert_close(from_channels_last.x_adv, result.x_adv)


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_takes_networks_that_refuse_channels_last(name):
    torch.manual_seed(3)
    model = ViewNet().eval()
    x = torch.rand(4, 3, 6, 6)
    with pytest.raises(RuntimeError):
        model(x.contiguous(memory_format=torch.channels_last))
    y = model(x).argmax(1)
    result = ATTACKS[name](model, x, y)
    assert result.x_adv.is_contiguous()
    assert result.success.all()
    assert (model(result.x_adv).argmax(1) != y).all()
    from_channels_last = ATTACKS[name](model, x.contiguous(memory_format=torch.channels_last), y)
    torch.testing.assert_close(from_channels_last.x_adv, result.x_adv)


class FailsOnThirdCall(ViewNet):
    """Takes any layout, and fails at its third forward pass: an error inside the attack."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("broken on the third call")
        h = self.conv(x).relu()
        return self.fc(h.reshape(h.shape[0], -1))


@pytest.mark.parametrize("name", ATTACKS)
def test_an_error_inside_the_attack_is_raised_not_retried_in_another_layout(name):
    torch.manual_seed(5)
    model = FailsOnThirdCall().eval()
    x = torch.rand(4, 3, 6, 6)
    y = torch.zeros(4, dtype=torch.long)
    with pytest.raises(RuntimeError, match="third call"):
        ATTACKS[name](model, x, y)
    assert model.calls == 3  # the layout probe, then two passes of the attack: no second run
