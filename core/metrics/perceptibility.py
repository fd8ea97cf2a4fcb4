"""Perceptibility and fooling ratio of the LRP poster (seed 000, "Performance Evaluation").

``rho_adv^p = 1/|D| sum_{x in D} ||eta||_p / ||x||_p`` for p = 1, 2, inf, with norms over all pixels
and channels of an image; the fooling ratio is the fraction of images whose label the attack changed.
Which images form ``D`` is the caller's choice: ``mean_perceptibility`` takes a mask (e.g. the
successful attacks) and returns NaN-free results only for a non-empty set.
"""
from __future__ import annotations

import torch

from core.errors import InputError
from core.precision import as_float64

NORMS = {"1": 1.0, "2": 2.0, "inf": float("inf")}


def blank_images(x: torch.Tensor) -> torch.Tensor:
    """Which images (N,) are all black, i.e. have ``||x||_p = 0`` and no perceptibility."""
    return ~x.flatten(1).any(dim=1)


def perceptibility(delta: torch.Tensor, x: torch.Tensor, p: float) -> torch.Tensor:
    """``||eta||_p / ||x||_p`` per image (N,), summed in float64: a float32 sum over an image's 150,000
    values drifts enough to move rho_1's fourth decimal (docs/methods.md)."""
    if delta.shape != x.shape:
        raise InputError("delta and x must have the same shape.")
    den = torch.linalg.vector_norm(as_float64(x).flatten(1), ord=p, dim=1)
    if (den == 0).any():  # the all-black images of ``blank_images``
        raise InputError("Perceptibility is undefined for an all-black image (||x||_p = 0).")
    return torch.linalg.vector_norm(as_float64(delta).flatten(1), ord=p, dim=1) / den


def mean_perceptibility(delta: torch.Tensor, x: torch.Tensor, p: float,
                        over: torch.Tensor | None = None) -> float | None:
    """``rho_adv^p`` over the images where ``over`` is True (all when None); None if there are none."""
    return masked_mean(perceptibility(delta, x, p), over)


def masked_mean(values: torch.Tensor, over: torch.Tensor | None = None) -> float | None:
    """The mean of ``values`` (N,) where ``over`` is True (all when None); None if there are none."""
    if over is not None:
        values = values[over.to(values.device)]
    return float(values.mean()) if values.numel() else None


def fooling_ratio(success: torch.Tensor) -> float:
    """Fraction of images whose label the attack changed (its goal met)."""
    if success.numel() == 0:
        raise InputError("The fooling ratio of an empty set of images is undefined.")
    return int(success.sum()) / success.numel()
