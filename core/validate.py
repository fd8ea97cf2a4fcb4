"""Checks of tensors handed to explainers and attacks."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from core.errors import InputError


def has_json_type(value: object, kinds: tuple[type, ...]) -> bool:
    """Whether a value read from JSON has one of ``kinds`` (``type(None)`` for null). A boolean is no
    number here, as in JSON, although Python's ``bool`` is an ``int``."""
    return any(value is None if kind is type(None) else isinstance(value, kind) and (
        kind is bool or not isinstance(value, bool)) for kind in kinds)


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


def check_images_for(model: nn.Module, x: torch.Tensor) -> None:
    """``check_images``, and ``x`` on the device and in the float type of ``model``'s parameters."""
    check_images(x)
    param = next((p for p in model.parameters() if p.is_floating_point()), None)
    if param is not None and (x.device != param.device or x.dtype != param.dtype):
        raise InputError(f"The images are {x.dtype} on {x.device}, the model's weights {param.dtype} on "
                         f"{param.device}: give the images as x.to({param.device.type!r}, {param.dtype}).")


def check_model_outputs(bad: torch.Tensor, rows: torch.Tensor | None = None,
                        what: str = "The model gives NaN or infinite outputs", advice: str = "") -> None:
    """A clear error naming the images where ``bad`` (n,) is True (``rows``: their places in the batch):
    by default, the model gives NaN or infinite outputs there, and an attack would move nothing, or
    everything; ``what`` says what went wrong instead, ``advice`` what to change."""
    if bool(bad.any()):  # one synchronisation
        where = bad.nonzero().squeeze(1) if rows is None else rows[bad]
        shown = ", ".join(str(i) for i in where[:10].tolist())
        raise InputError(f"{what} for image(s) {shown} of the batch (counting from 0).{advice}")
