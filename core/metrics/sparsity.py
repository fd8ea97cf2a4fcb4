"""The GSE paper's figures of sparse perturbations (Sadiku, Wagner, Pokutta, ICLR 2025, Section 4 and the
talk's "Evaluation Metrics" and "Interpretability Metrics"), one function each, batched over
perturbations ``w`` (N, C, H, W) of images of M x N pixels.

- ``changed_pixels``: ``||m||_0`` of the pixel mask ``m = sign(sum_c |w|_{:,:,c})`` (channels collapsed);
  ACP ``= 1 / (m_s M N) sum_i ||m^(i)||_0`` over the ``m_s`` successful adversaries is the mean of
  ``changed_fraction`` over them (``acp``); the paper's tables print the count ``||m||_0`` itself.
- ``clusters``: ANC's count, the connected components of ``m`` under 4-connectivity (the official code's
  depth-first search, one run per undiscovered component).
- ``d20``: ``d_{2,0}(w) = |{i : ||w_{G_i}||_2 != 0}|`` over all overlapping 8 x 8 patches (stride 1, all
  channels) ``G_i``.
- ``adversarial_saliency``: ``ASM(x, l, t)_i = dZ_t/dx_i |dZ_l/dx_i| 1_S(i)``,
  ``S = {i : dZ_t/dx_i >= 0 or dZ_l/dx_i <= 0}`` (the talk's formula; the official code leaves ``1_S`` out,
  ``restrict=False``).
- ``interpretability_score``: ``IS(w) = ||B (.) w||_2 / ||w||_2``, ``B_i = 1`` where ``ASM_i > nu`` and ``nu``
  the ``P``-th percentile of the map's non-zero entries with a zero prepended (the official code's order
  statistic ``a[ceil(P / 100 len(a))]``).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from core.errors import InputError
from core.validate import check_count, check_number

PATCH = 8  # d_{2,0}'s patch side in the paper


def _check(w: torch.Tensor) -> None:
    if not isinstance(w, torch.Tensor) or w.dim() != 4:
        raise InputError("Expected perturbations shaped (N, C, H, W).")


def pixel_mask(w: torch.Tensor) -> torch.Tensor:
    """``m = sign(sum_c |w|_{:,:,c})`` (N, H, W) bool: the pixels changed in any channel."""
    _check(w)
    return w.abs().sum(1) != 0


def changed_pixels(w: torch.Tensor) -> torch.Tensor:
    """``||m||_0`` per perturbation (N,): how many pixels change."""
    return pixel_mask(w).flatten(1).sum(1)


def changed_fraction(w: torch.Tensor) -> torch.Tensor:
    """``||m||_0 / (M N)`` per perturbation (N,)."""
    m = pixel_mask(w)
    return m.flatten(1).float().mean(1)


def acp(w: torch.Tensor, success: torch.Tensor) -> float:
    """ACP ``= 1 / (m_s M N) sum_{successes} ||m||_0``; NaN where nothing succeeded."""
    chosen = changed_fraction(w)[success.bool()]
    return float(chosen.mean()) if chosen.numel() else math.nan


def clusters(w: torch.Tensor) -> torch.Tensor:
    """The number of 4-connected clusters of changed pixels per perturbation (N,), ANC's count."""
    masks = pixel_mask(w).cpu().numpy()
    cross = ndimage.generate_binary_structure(2, 1)  # 4-connectivity: the code's neighbours up, down, left, right
    return torch.tensor([ndimage.label(m, structure=cross)[1] for m in masks], dtype=torch.long)


def d20(w: torch.Tensor, size: int = PATCH) -> torch.Tensor:
    """``d_{2,0}(w)``: how many overlapping ``size`` x ``size`` patches (stride 1) hold a non-zero entry (N,)."""
    _check(w)
    size = check_count("The patch size", size, 1)
    if size > min(w.shape[-2:]):
        raise InputError(f"The patch size {size} exceeds the image ({w.shape[-2]} x {w.shape[-1]}).")
    occupied = (w != 0).any(1, keepdim=True).float()  # a patch's l2 norm is non-zero iff it holds a non-zero entry
    counts = F.avg_pool2d(occupied, size, stride=1) * size * size
    return (counts > 0.5).flatten(1).sum(1)


def l2(w: torch.Tensor) -> torch.Tensor:
    """``||w||_2`` per perturbation (N,)."""
    _check(w)
    return w.flatten(1).norm(dim=1)


def adversarial_saliency(model: nn.Module, x: torch.Tensor, label: torch.Tensor, target: torch.Tensor,
                         restrict: bool = True) -> torch.Tensor:
    """``ASM(x, l, t)`` (N, C, H, W), see the module docstring; ``restrict=False`` drops ``1_S`` as the
    official code does."""
    x = x.detach().requires_grad_()
    logits = model(x)
    rows = torch.arange(x.shape[0], device=x.device)
    (d_t,) = torch.autograd.grad(logits[rows, target].sum(), x, retain_graph=True)
    (d_l,) = torch.autograd.grad(logits[rows, label].sum(), x)
    asm = d_t * d_l.abs()
    if restrict:
        asm = torch.where((d_t >= 0) | (d_l <= 0), asm, torch.zeros_like(asm))
    return asm


def saliency_percentile(asm: torch.Tensor, percentile: float) -> torch.Tensor:
    """``nu`` per map (N,): the order statistic ``a[ceil(P / 100 len(a))]`` of the map's sorted non-zero
    entries with a zero in front (the official code's ``ASM_percentile``)."""
    percentile = check_number("The percentile", percentile, "in [0, 100)", lambda v: 0 <= v < 100)
    out = []
    for row in asm.flatten(1):
        a = torch.cat([row.new_zeros(1), row[row != 0].sort().values])
        out.append(a[min(math.ceil(percentile / 100 * a.numel()), a.numel() - 1)])
    return torch.stack(out)


def interpretability_score(asm: torch.Tensor, w: torch.Tensor, percentile: float) -> torch.Tensor:
    """``IS(w) = ||B (.) w||_2 / ||w||_2`` per perturbation (N,), ``B = [ASM > nu]`` with ``nu`` the map's
    ``percentile`` (``saliency_percentile``); NaN for a zero perturbation."""
    _check(w)
    nu = saliency_percentile(asm, percentile).view(-1, *[1] * (asm.dim() - 1))
    inside = (asm > nu).to(w.dtype) * w
    norm = l2(w)
    return torch.where(norm > 0, l2(inside) / norm.clamp_min(1e-30), torch.full_like(norm, math.nan))


def mean_over(values: torch.Tensor, success: torch.Tensor) -> float:
    """The mean of ``values`` over the successful images (NaN where none succeeded)."""
    chosen = values[success.bool().to(values.device)].double()
    return float(chosen.mean()) if chosen.numel() else math.nan


def asr(success: torch.Tensor) -> float:
    """ASR ``= m_s / n``: the fraction of images whose attack succeeded."""
    return float(np.mean(success.cpu().numpy().astype(float))) if success.numel() else math.nan
