"""DeepFool: the analytic distance on a linear classifier, batching, C2F goals."""
import pytest
import torch
from torch import nn

from core.attacks.deepfool import deepfool
from core.attacks.layout import working_layout
from devices import DEVICES


def linear_model(w: torch.Tensor, b: torch.Tensor) -> nn.Module:
    layer = nn.Linear(w.shape[1], w.shape[0])
    layer.weight.data, layer.bias.data = w.clone(), b.clone()
    return nn.Sequential(nn.Flatten(), layer).eval()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("crossing", [None, 0.0, 0.01])
def test_deepfool_on_a_linear_classifier_lands_at_the_analytic_distance(crossing, device):
    """One step of (1 + overshoot) (|w.x + b| / ||w|| + crossing); crossing 1e-4 by default (the reference
    code's), 0 for the paper's Algorithm 1."""
    g = torch.Generator().manual_seed(0)
    d = 2 * 3 * 3
    w = (torch.randn(2, d, generator=g) * 0.1).to(device)
    b = torch.zeros(2, device=device)
    model = linear_model(w, b)
    x = (0.5 + 0.02 * torch.randn(5, 2, 3, 3, generator=g)).to(device)  # far from the [0, 1] walls: no clipping
    result = deepfool(model, x, overshoot=0.02, **({} if crossing is None else {"crossing": crossing}))
    c = 1e-4 if crossing is None else crossing
    assert result.params["crossing"] == c
    z = model(x)
    y = z.argmax(1)
    w_diff = w[1 - y] - w[y]
    analytic = (z.gather(1, (1 - y)[:, None]) - z.gather(1, y[:, None])).abs()[:, 0] / w_diff.norm(dim=1)
    torch.testing.assert_close(result.delta.flatten(1).norm(dim=1), 1.02 * (analytic + c), rtol=1e-4, atol=1e-6)
    assert result.success.all() and (result.iterations == 1).all()
    assert (model(result.x_adv).argmax(1) != y).all()
    # the step is along w_y' - w_y: perpendicular to the boundary
    cosine = torch.nn.functional.cosine_similarity(result.delta.flatten(1), w_diff, dim=1)
    torch.testing.assert_close(cosine, torch.ones(5, device=device), rtol=0, atol=1e-5)


class _CountingNet(nn.Module):
    """Records how many images each forward pass carries."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.batches = model, []

    def forward(self, x):
        self.batches.append(x.shape[0])
        return self.model(x)


def test_deepfool_sends_each_iterate_through_the_network_once():
    """The pass that checks an iterate also gives the next step's gradients; only images that are still
    moving go through again, and only after others have finished; one last pass judges the returned
    images as they are returned."""
    torch.manual_seed(4)
    net = _CountingNet(nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 5)).eval())
    x = torch.rand(6, 3, 2, 2)
    y = net(x).argmax(1)
    working_layout(net, x)  # the layout probe (one image, once per network), so that only DeepFool's passes count
    net.batches.clear()
    result = deepfool(net, x, y, candidates=4)
    its = result.iterations
    assert result.success.all() and its.unique().numel() > 1  # images finish at different steps
    checks = [int((its >= t).sum()) for t in range(1, int(its.max()) + 1)]  # images checked after step t
    again = [int((its > t).sum()) for t in range(1, int(its.max())) if (its == t).any()]  # rest, once some finished
    assert len(net.batches) == 1 + len(checks) + len(again) + 1
    assert sum(net.batches) == len(x) + sum(checks) + sum(again) + len(x)


def test_deepfool_batched_equals_one_image_at_a_time_and_leaves_inputs_alone():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 5)).eval()
    x = torch.rand(6, 3, 2, 2)
    before = x.clone()
    batched = deepfool(model, x, candidates=4)
    single = torch.cat([deepfool(model, x[i : i + 1], candidates=4).x_adv for i in range(6)])
    torch.testing.assert_close(batched.x_adv, single, rtol=1e-5, atol=1e-6)
    assert torch.equal(x, before)
    assert batched.x_adv.min() >= 0 and batched.x_adv.max() <= 1
    assert batched.success.all()
