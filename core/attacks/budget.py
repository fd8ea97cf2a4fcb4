"""Budgets and input checks shared by the attacks (all in the [0, 1] pixel scale)."""
from __future__ import annotations

import torch

from core.errors import InputError


def eps_from_255(eps_255: float) -> float:
    """A budget on the 0-255 scale (the LRP poster's 10, 20, 40) in the [0, 1] scale: ``eps / 255``."""
    if not 0 <= eps_255 <= 255:
        raise InputError(f"Epsilon on the 0-255 scale must lie in [0, 255], got {eps_255}.")
    return eps_255 / 255.0


def check_budget(eps: float, alpha: float, steps: int) -> None:
    if not 0 <= eps <= 1:
        raise InputError(f"Epsilon must lie in [0, 1] (pixel scale), got {eps}.")
    if not alpha > 0:
        raise InputError(f"The step size alpha must be positive, got {alpha}.")
    if not isinstance(steps, int) or steps < 0:
        raise InputError(f"The number of steps must be a non-negative integer, got {steps}.")


def project_linf(x: torch.Tensor, x_adv: torch.Tensor, eps: float) -> torch.Tensor:
    """Nearest point of ``{x' : ||x' - x||_inf <= eps, 0 <= x' <= 1}`` (clip delta, then pixels), as
    torchattacks projects: ``x + delta`` is rounded, so ``x' - x`` can exceed ``eps`` by an ulp."""
    return (x + (x_adv - x).clamp(-eps, eps)).clamp(0.0, 1.0)


def within_budget(x: torch.Tensor, x_adv: torch.Tensor, eps: float) -> torch.Tensor:
    """``x_adv`` (already projected) with every pixel whose ``|x_adv - x|`` rounds above ``eps`` moved
    one ulp towards ``x``, so the budget holds exactly in the tensors' own precision."""
    over = (x_adv - x).abs() > eps
    return torch.where(over, torch.nextafter(x_adv, x), x_adv)
