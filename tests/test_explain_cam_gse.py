"""Class activation maps (core.explain.cam): on a network ending in global average pooling and one linear
layer, the map is CAM's sum_k W_ck A^k computed by hand; Grad-CAM's range and refusals."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import InputError, UnsupportedError
from core.explain.cam import class_activation_map
from tests.devices import DEVICES


class GapNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(), nn.Conv2d(5, 6, 3, padding=1))
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


@pytest.mark.parametrize("device", DEVICES)
def test_cam_of_a_gap_network_by_hand(device):
    model = GapNet().eval().to(device)
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(1)).to(device)
    classes = torch.tensor([0, 2, 3])
    cam = class_activation_map(model, x, classes)
    with torch.no_grad():
        a = model.features(x)
        by_hand = F.relu(torch.einsum("nk,nkhw->nhw", model.fc.weight[classes.to(device)], a))
    by_hand = by_hand / by_hand.flatten(1).amax(1).view(-1, 1, 1)
    torch.testing.assert_close(cam, by_hand, rtol=1e-5, atol=1e-6)  # the input's size: no resampling here
    assert cam.min() >= 0 and torch.allclose(cam.flatten(1).amax(1), torch.ones(3, device=device))


def test_cam_refusals():
    model = GapNet().eval()
    with pytest.raises(InputError):
        class_activation_map(model, torch.rand(1, 3, 8, 8), torch.tensor([7]))
    flat = nn.Sequential(nn.Flatten(), nn.Linear(12, 2))
    with pytest.raises(UnsupportedError, match="convolutional"):
        class_activation_map(flat, torch.rand(1, 3, 2, 2), torch.tensor([0]))
