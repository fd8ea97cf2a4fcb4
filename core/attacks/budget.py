"""Budgets and input checks shared by the attacks (all in the [0, 1] pixel scale)."""
from __future__ import annotations

import math

import torch

from core.errors import InputError
from core.precision import as_float64


def eps_from_255(eps_255: float) -> float:
    """A budget on the 0-255 scale (the LRP poster's 10, 20, 40) in the [0, 1] scale: ``eps / 255``."""
    if not 0 <= eps_255 <= 255:
        raise InputError(f"Epsilon on the 0-255 scale must lie in [0, 255], got {eps_255}.")
    return eps_255 / 255.0


def check_budget(eps: float, alpha: float, steps: int) -> None:
    if not 0 <= eps <= 1:
        raise InputError(f"Epsilon must lie in [0, 1] (pixel scale), got {eps}.")
    if not 0 < alpha < math.inf:
        raise InputError(f"The step size alpha must be positive and finite, got {alpha}.")
    if not isinstance(steps, int) or steps < 0:
        raise InputError(f"The number of steps must be a non-negative integer, got {steps}.")


def project_linf(x: torch.Tensor, x_adv: torch.Tensor, eps: float) -> torch.Tensor:
    """Nearest point of ``{x' : ||x' - x||_inf <= eps, 0 <= x' <= 1}`` (clip delta, then pixels), as
    torchattacks projects: ``x + delta`` is rounded, so ``x' - x`` can exceed ``eps`` by an ulp."""
    return (x + (x_adv - x).clamp(-eps, eps)).clamp(0.0, 1.0)


def largest_at_most(eps: float, dtype: torch.dtype) -> float:
    """The largest number of ``dtype`` that is ``<= eps`` (``eps`` itself rounds up in float32 for 10/255)."""
    eps = float(eps)  # also a 0-d tensor
    limit = torch.tensor(eps, dtype=dtype)
    if limit.item() > eps:
        limit = torch.nextafter(limit, torch.tensor(-1.0, dtype=dtype))
    return limit.item()


def within_budget(x: torch.Tensor, x_adv: torch.Tensor, eps: float) -> torch.Tensor:
    """``x_adv`` (already projected, in [0, 1]) with every pixel whose exact ``|x_adv - x|`` exceeds ``eps``
    moved onto the edge of the ball, so that ``|x_adv - x| <= eps`` holds in exact arithmetic, and then
    also as the tensors' own precision rounds the difference. Checked in float64, where the difference
    of two float32 pixels is exact; the edge ``x +- limit`` (``limit``: ``eps`` rounded down to the
    tensors' precision) is rounded to the tensors' precision towards ``x``."""
    limit = largest_at_most(eps, x_adv.dtype)
    wide_x, wide_adv = as_float64(x), as_float64(x_adv)
    over = (wide_adv - wide_x).abs() > limit
    edge = (wide_x + (wide_adv - wide_x).sign() * limit).to(x_adv.dtype)
    edge = torch.where((as_float64(edge) - wide_x).abs() > limit, torch.nextafter(edge, x.to(edge.device)), edge)
    return torch.where(over.to(x_adv.device), edge.to(x_adv.device), x_adv)
