"""What a model takes: the description of its input, one record per kind of data.

- ``ImageInput``: images of ``size x size`` pixels with ``channels`` channels in [0, 1], made from a
  photo by resizing its shorter side to ``size / crop_fraction`` and cropping the centre; normalised
  inside the model by ``mean`` and ``std`` per channel.
- ``TabularInput``: one row of ``feature_names`` per input, each in its ``unit`` and within
  ``[low, high]``; standardised inside the model by ``mean`` and ``std`` per feature (S-CFE's data).

Each wraps a network so that the model takes its inputs as the user has them (``wrap``), and checks a
batch against itself (``check``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.errors import InputError
from core.models.wrapper import ImageClassifier, TabularClassifier
from core.validate import check_images, check_inputs


@dataclass(frozen=True)
class ImageInput:
    size: int
    channels: int
    crop_fraction: float
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def wrap(self, net: nn.Module) -> nn.Module:
        return ImageClassifier(net, self.mean, self.std)

    def check(self, x: torch.Tensor) -> None:
        check_images(x)

    def loading(self) -> dict[str, int | float]:
        """The keyword arguments of ``core.data.load_image`` and ``load_gallery`` for this input."""
        return {"size": self.size, "crop_fraction": self.crop_fraction, "channels": self.channels}

    def describe(self) -> str:
        """``"224×224 RGB"``, ``"28×28 grayscale"``."""
        return f"{self.size}×{self.size} {'grayscale' if self.channels == 1 else 'RGB'}"


@dataclass(frozen=True)
class TabularInput:
    feature_names: tuple[str, ...]
    units: tuple[str, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self):
        lengths = {len(v) for v in (self.feature_names, self.units, self.low, self.high, self.mean, self.std)}
        if len(lengths) != 1:
            raise InputError("A tabular input needs one name, unit, range and statistic per feature.")

    def wrap(self, net: nn.Module) -> nn.Module:
        return TabularClassifier(net, self.mean, self.std)

    def check(self, x: torch.Tensor) -> None:
        """A batch (N, features) within the features' ranges."""
        if x.dim() != 2 or x.shape[1] != len(self.feature_names):
            raise InputError(f"Expected rows of {len(self.feature_names)} features shaped (N, "
                             f"{len(self.feature_names)}), got shape {tuple(x.shape)}.")
        check_inputs(x, torch.tensor(self.low), torch.tensor(self.high), noun="feature")

    def describe(self) -> str:
        return f"{len(self.feature_names)} features"
