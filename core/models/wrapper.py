"""Normalisation inside the model: every model in ``core`` takes its inputs as the user has them
(pixels in [0, 1], features in their units).

``ImageClassifier(net, mean, std)(x) = net((x - mean) / std)`` with statistics per channel of images
(N, C, H, W); ``TabularClassifier`` the same per feature of rows (N, D). Attacks and metrics therefore
never see normalised tensors; LRP treats ``Normalize`` as a pass-through so relevance is reported per
pixel (or feature).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Normalize(nn.Module):
    """Affine map ``(x - mean) / std`` along dimension 1 of inputs of ``rank`` dimensions (4: images,
    per channel; 2: rows, per feature), the statistics held as buffers."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], rank: int = 4):
        super().__init__()
        shape = (1, -1) + (1,) * (rank - 2)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(shape))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class NormalizedClassifier(nn.Module):
    """``normalize`` then ``net``; returns logits (N, K). Subclasses say the inputs' ``rank``."""

    rank: int

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.normalize = Normalize(mean, std, self.rank)
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))


class ImageClassifier(NormalizedClassifier):
    """A classifier on [0, 1] pixels (N, C, H, W), normalised per channel."""

    rank = 4


class TabularClassifier(NormalizedClassifier):
    """A classifier on rows of features in their units (N, D), standardised per feature."""

    rank = 2
