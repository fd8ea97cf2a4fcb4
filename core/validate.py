"""Checks of tensors handed to explainers and attacks."""
from __future__ import annotations

from typing import Sequence

import torch

from core.errors import InputError


def check_choice(what: str, value: object, known: Sequence[str]) -> None:
    """A clear error when ``value`` is not one of the ``known`` names of ``what``."""
    if value not in known:
        raise InputError(f"Unknown {what} {value!r}; choose one of {', '.join(known)}.")


def check_images(x: torch.Tensor) -> None:
    """A float batch (N, C, H, W) of finite pixels in [0, 1]."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point():
        raise InputError("Expected a float tensor of images shaped (N, C, H, W).")
    if x.numel() == 0:
        raise InputError(f"The batch holds no pixels (shape {tuple(x.shape)}): give at least one image.")
    low, high = torch.aminmax(x)  # one pass; NaN fails both comparisons below
    if bool((low >= 0) & (high <= 1)):
        return
    if not torch.isfinite(x).all():
        raise InputError("The images contain NaN or infinite values.")
    raise InputError("Pixel values must lie in [0, 1] (models normalise internally).")
