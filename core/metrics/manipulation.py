"""How far an attack on explanations moved the explanation, the image and the prediction: the figures of
the eXIAA paper (seed 002, Sec. 2 and 4, Figures 2-4, Table 1), one function each, per image.

- ``explanation_change_pct``: ``100 * sum_{W,H,C} |z - z_hat| / sum_{W,H,C} |z|`` (eq. 2's sum of absolute
  differences over the original explanation's, as Figure 2 reports it).
- ``ssim``: eq. 1 between the original and the corrupted image (eq. 4's D_SSIM).
- ``confidence_change_pct``: ``100 * |f_{y*}(x) - f_{y*}(x_hat)|`` (eq. 3 for the originally predicted class,
  Figure 4, Table 1's value beside the arrow).
- ``class_changed``: ``argmax f(x_hat) != y*``.
- ``queries_per_attack``: the black-box queries an attack asked, per attacked image.

Sums run in float64: a float32 sum over an image's 150,000 entries drifts in its last digits.
"""
from __future__ import annotations

import numpy as np
import torch
from skimage.metrics import structural_similarity

from core.errors import InputError
from core.precision import as_float64

SSIM_WINDOW = 7  # scikit-image's default: uniform 7x7 windows


def _same_shape(what: str, a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise InputError(f"The {what} must have the same shape: {tuple(a.shape)} and {tuple(b.shape)}.")


def explanation_change_pct(z: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
    """``100 * sum |z - z_hat| / sum |z|`` per image (N,), sums over all entries (C, H, W) of each map (eq. 2
    of the eXIAA paper, normalised as its Figure 2: 0 % where the explanations are identical)."""
    _same_shape("explanations", z, z_hat)
    z, z_hat = as_float64(z).flatten(1), as_float64(z_hat).flatten(1)
    total = z.abs().sum(1)
    if bool((total == 0).any()):
        raise InputError("The original explanation is all zero, so its change in percent is undefined.")
    return 100 * (z - z_hat).abs().sum(1) / total


def ssim(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """SSIM (eq. 1 of the eXIAA paper: ``(2 mu_x mu_y + c1)(2 s_xy + c2) / ((mu_x^2 + mu_y^2 + c1)(s_x^2 +
    s_y^2 + c2))``, averaged over local windows) of each image pair (N,), by scikit-image with
    ``data_range=1`` (L: pixels in [0, 1]), ``channel_axis`` the colour channels (each channel's mean SSIM,
    averaged), uniform 7x7 windows, k1 = 0.01 and k2 = 0.03. 1 for identical images."""
    _same_shape("images", x, x_hat)
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise InputError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got "
                         f"{tuple(x.shape[-2:])}.")
    a = x.detach().permute(0, 2, 3, 1).cpu().numpy().astype(np.float64)  # (N, H, W, C), moved once
    b = x_hat.detach().permute(0, 2, 3, 1).cpu().numpy().astype(np.float64)
    values = [structural_similarity(u, v, data_range=1.0, channel_axis=-1, win_size=SSIM_WINDOW)
              for u, v in zip(a, b)]
    return torch.tensor(values, dtype=torch.float64)


def confidence_change_pct(p: torch.Tensor, p_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``100 * |f_y(x) - f_y(x_hat)|`` per image (N,): the absolute change of the probability of class ``y``
    (the original prediction y*) in percentage points (eq. 3 of the eXIAA paper, its Figure 4)."""
    _same_shape("probabilities", p, p_hat)
    rows = y.to(p.device)[:, None]
    return 100 * (as_float64(p).gather(1, rows) - as_float64(p_hat).gather(1, rows)).abs().squeeze(1)


def class_changed(p_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Whether the prediction left ``y``: ``argmax_j f_j(x_hat) != y`` per image (N,) bool."""
    return p_hat.argmax(1) != y.to(p_hat.device)


def queries_per_attack(predicted: int, explained: int, attacks: int, pool: int = 0) -> dict[str, float]:
    """The black-box queries per attacked image: ``Q_predict = predicted / attacks`` (images passed to
    ``predict``), ``Q_explain = explained / attacks`` (images passed to ``explain``) and the pool's share
    ``Q_pool = pool / attacks`` (the pool's probabilities, asked once for every image they serve)."""
    if attacks < 1:
        raise InputError("Queries per attack need at least one attack.")
    return {"predict": predicted / attacks, "explain": explained / attacks, "pool": pool / attacks}
