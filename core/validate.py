"""Checks of tensors handed to explainers and attacks."""
from __future__ import annotations

import torch

from core.errors import InputError


def check_images(x: torch.Tensor) -> None:
    """A float batch (N, C, H, W) of finite pixels in [0, 1]."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point():
        raise InputError("Expected a float tensor of images shaped (N, C, H, W).")
    low, high = torch.aminmax(x)  # one pass; NaN fails both comparisons below
    if bool((low >= 0) & (high <= 1)):
        return
    if not torch.isfinite(x).all():
        raise InputError("The images contain NaN or infinite values.")
    raise InputError("Pixel values must lie in [0, 1] (models normalise internally).")
