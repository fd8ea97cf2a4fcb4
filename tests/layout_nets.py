"""Small networks for the layout the attacks work in (core.attacks.layout)."""
from __future__ import annotations

import torch
from torch import nn


class ViewNet(nn.Module):
    """Flattens a convolution's output with ``.view``, which a channels-last tensor refuses."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        h = self.conv(x).relu()
        return self.fc(h.view(h.shape[0], -1))


class LayoutSpy(nn.Module):
    """A small CNN that records whether each input it is given is in channels-last layout."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
        self.channels_last: list[bool] = []

    def forward(self, x):
        self.channels_last.append(x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())
        return self.net(x)
