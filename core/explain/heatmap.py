"""Relevance to pictures: channel sum, a symmetric scale centred at zero, a diverging colour map.

``heatmap(R) = sum_c R[:, c]`` (N, H, W). Maps that are compared share one scale ``s`` (the largest
absolute value over all of them, or a percentile of it) and are coloured blue (-s) - white (0) -
red (+s), so equal colours mean equal relevance across the comparison.
"""
from __future__ import annotations

import io
from collections.abc import Iterable

import numpy as np
import torch
from PIL import Image

from core.errors import InputError

# blue -> white -> red anchors of the diverging map (ColorBrewer RdBu ends)
_ANCHORS = np.array([[33, 102, 172], [255, 255, 255], [178, 24, 43]], dtype=np.float64)
PLOTLY_SCALE = [[0.0, "rgb(33,102,172)"], [0.5, "rgb(255,255,255)"], [1.0, "rgb(178,24,43)"]]


def heatmap(relevance: torch.Tensor | np.ndarray) -> np.ndarray:
    """Channel-summed relevance (N, H, W) as float32 numpy."""
    r = relevance.detach().cpu().numpy() if isinstance(relevance, torch.Tensor) else np.asarray(relevance)
    if r.ndim != 4:
        raise InputError("Relevance must be shaped (N, C, H, W).")
    return r.sum(axis=1).astype(np.float32)


def shared_scale(maps: Iterable[np.ndarray], percentile: float = 100.0) -> float:
    """One symmetric scale for several maps: the ``percentile`` of their absolute values (> 0)."""
    if not 0 < percentile <= 100:
        raise InputError("The colour-scale percentile must lie in (0, 100].")
    values = np.concatenate([np.abs(np.asarray(m, dtype=np.float64)).ravel() for m in maps])
    scale = float(np.percentile(values, percentile)) if values.size else 0.0
    return scale if scale > 0 else 1.0


def colorize(map2d: np.ndarray, scale: float) -> np.ndarray:
    """RGB uint8 image of a 2-D map on the diverging scale [-scale, scale]."""
    t = np.clip(np.asarray(map2d, dtype=np.float64) / scale, -1.0, 1.0)
    low = t < 0
    a = np.where(low, -t, t)[..., None]
    end = np.where(low[..., None], _ANCHORS[0], _ANCHORS[2])
    return np.round((1 - a) * _ANCHORS[1] + a * end).astype(np.uint8)


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG encoding of an RGB (or grayscale: (H, W) or (H, W, 1)) uint8 array."""
    buffer = io.BytesIO()
    Image.fromarray(rgb[..., 0] if rgb.ndim == 3 and rgb.shape[-1] == 1 else rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def perturbation_image(delta: np.ndarray, peak: float | None = None) -> tuple[np.ndarray, float]:
    """A perturbation (C, H, W) made visible: ``0.5 + k * delta`` with ``k = 0.5 / peak``, as uint8
    (H, W, C); ``peak`` is ``max|delta|`` unless given (the largest of several perturbations shown
    together, so they share one factor). Returns the image and ``k`` (1 for a zero peak)."""
    d = np.asarray(delta, dtype=np.float64)
    peak = float(np.abs(d).max()) if peak is None else peak
    factor = 0.5 / peak if peak > 0 else 1.0
    rgb = np.clip(0.5 + factor * d, 0.0, 1.0).transpose(1, 2, 0)
    return np.round(rgb * 255).astype(np.uint8), factor
