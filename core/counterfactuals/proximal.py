"""The proximal operators of the counterfactual methods, on perturbations w = y - x per row, with the box
[lo, hi] of the actionable set A written for w (``lo - x <= w <= hi - x``, which holds 0).

- ``project_box``: Pi_A, the clamp.
- ``hard_threshold``: the prox of alpha (I_A + beta ||w||_0) (eq. 3 of the S-CFE talk): per coordinate
  z = Pi_A(w); keep z_i where w_i^2 - (w_i - z_i)^2 > 2 alpha beta, else 0 (the clipped iterative
  hard-thresholding of Zhu et al. 2021).
- ``project_sparse_box``: the projection on {||w||_0 <= m} n A (eq. 4's prox, the talk's closed form after
  Croce & Hein 2019): z = Pi_A(w), v = w*w - (w - z)*(w - z), Q = argtopk(v, m); z on Q, 0 elsewhere.
  v_i is what keeping coordinate i saves against zeroing it (>= 0 since 0 lies in the box), so the m
  largest savings give the nearest point; ties go to torch.topk's choice, all equally near.
- ``soft_threshold_box``: the prox of alpha (I_A + beta ||w||_1) (CEM's elastic-net step):
  Pi_A(sign(w) max(|w| - alpha beta, 0)); exact because the l1 term and the box separate per coordinate.
"""
from __future__ import annotations

import torch


def project_box(w: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    return torch.minimum(torch.maximum(w, lo), hi)


def hard_threshold(w: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    z = project_box(w, lo, hi)
    keep = w * w - (w - z) * (w - z) > 2 * alpha * beta
    return torch.where(keep, z, torch.zeros_like(z))


def project_sparse_box(w: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, m: int) -> torch.Tensor:
    z = project_box(w, lo, hi)
    if m >= w.shape[1]:
        return z
    saving = w * w - (w - z) * (w - z)
    kept = torch.zeros_like(z, dtype=torch.bool).scatter(1, saving.topk(m, dim=1).indices, True)
    return torch.where(kept, z, torch.zeros_like(z))


def soft_threshold_box(w: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, alpha: float,
                       beta: float) -> torch.Tensor:
    return project_box(w.sign() * (w.abs() - alpha * beta).clamp_min(0), lo, hi)
