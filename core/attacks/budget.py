"""Budgets and the projections of the projected loop (``loop.py``), in the inputs' own scale ([0, 1]
for images).

A projection is the feasible set of an attack: the ball of radius ``eps`` around the clean input
``x`` within the inputs' range ``[low, high]``. It offers the nearest feasible point
(``__call__``, applied after every step), the exact-budget fix of the returned inputs (``exact``)
and a seeded random start (``start``). ``LinfBall`` is the l_inf ball of PGD and the LRP attacks;
sparse attacks bring their own (l_0, group norms) with the same three calls.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch

from core.precision import as_float64
from core.validate import check_count, check_number


def eps_from_255(eps_255: float) -> float:
    """A budget on the 0-255 scale (the LRP poster's 10, 20, 40) in the [0, 1] scale: ``eps / 255``."""
    return check_number("Epsilon on the 0-255 scale", eps_255, "in [0, 255]", lambda e: 0 <= e <= 255) / 255.0


def check_eps(eps: float) -> float:
    """A budget in the [0, 1] pixel scale."""
    return check_number("Epsilon (pixel scale)", eps, "in [0, 1]", lambda e: 0 <= e <= 1)


def check_step(alpha: float) -> float:
    """A step size: positive and finite."""
    return check_number("The step size alpha", alpha, "positive and finite", lambda a: 0 < a < math.inf)


def linf_budget(eps: float, alpha: float | None, steps: int) -> tuple[LinfBall, float]:
    """The l_inf ball of radius ``eps`` and the step size: ``alpha``, or by default ``2.5 eps / steps``
    (Madry et al.'s choice; 1 where ``eps`` is 0, which moves nothing)."""
    ball = LinfBall(eps)
    steps = check_count("The number of steps", steps)
    if alpha is None:
        alpha = 2.5 * ball.eps / max(steps, 1) if ball.eps > 0 else 1.0
    return ball, alpha  # the loop checks alpha


class Projection(Protocol):
    eps: float

    def __call__(self, x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor: ...

    def exact(self, x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor: ...

    def start(self, x: torch.Tensor, seed: int) -> torch.Tensor: ...


@dataclass(frozen=True)
class LinfBall:
    """``{x' : ||x' - x||_inf <= eps, low <= x' <= high}``, for inputs of any shape (N, ...)."""

    eps: float
    low: float = 0.0
    high: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "eps", check_eps(self.eps))  # a 0-d tensor becomes its number

    def __call__(self, x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
        """The nearest feasible point, as torchattacks projects (clip the perturbation, then the values):
        ``x + delta`` is rounded, so ``x' - x`` can exceed ``eps`` by an ulp (``exact`` removes that)."""
        return (x + (x_adv - x).clamp(-self.eps, self.eps)).clamp(self.low, self.high)

    def exact(self, x: torch.Tensor, x_adv: torch.Tensor) -> torch.Tensor:
        """``within_budget``: every value moved onto the ball's edge where rounding left it past ``eps``."""
        return within_budget(x, x_adv, self.eps)

    def start(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        """``x + U(-eps, eps)`` clipped to the range, from a seeded generator (same seed, same start)."""
        g = torch.Generator(device="cpu").manual_seed(seed)
        noise = (torch.rand(x.shape, generator=g) * 2 - 1).to(x) * self.eps
        return (x + noise).clamp(self.low, self.high)


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
