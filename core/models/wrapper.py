"""Normalisation inside the model: every model in ``core`` takes pixels in [0, 1].

``ImageClassifier(net, mean, std)(x) = net((x - mean) / std)``. Attacks and metrics therefore never
see normalised tensors; LRP treats ``Normalize`` as a pass-through so relevance is reported per pixel.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class Normalize(nn.Module):
    """Per-channel affine map ``(x - mean) / std`` with the statistics held as buffers."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ImageClassifier(nn.Module):
    """A classifier on [0, 1] pixels: ``normalize`` then ``net``; returns logits (N, K)."""

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))
