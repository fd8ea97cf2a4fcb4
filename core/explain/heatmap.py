"""Relevance to pictures: channel sum, a colour scale where the map's own structure shows, colour maps,
and PNGs that carry their colour bar and scale.

``heatmap(R) = sum_c R[:, c]`` (N, H, W). A ``ColourScale`` says how maps are coloured: signed maps
blue (-s) - white (0) - red (+s), unsigned ones (non-negative by construction, e.g. absolute
saliency) white (0) - red (+s), with ``s`` the ``percentile`` of the absolute values of the maps
that share it (``scale_of``). Maps share a scale only where their magnitudes compare (one method's
maps of one comparison); a map of another method gets its own, so none is drawn blank beside a
stronger one. ``ColourScale.scope`` names what shares it, for captions and reports.
"""
from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from core.errors import InputError

# blue -> white -> red anchors of the diverging map (ColorBrewer RdBu ends)
_ANCHORS = np.array([[33, 102, 172], [255, 255, 255], [178, 24, 43]], dtype=np.float64)
PLOTLY_SCALE = [[0.0, "rgb(33,102,172)"], [0.5, "rgb(255,255,255)"], [1.0, "rgb(178,24,43)"]]
PLOTLY_UNSIGNED_SCALE = [[0.0, "rgb(255,255,255)"], [1.0, "rgb(178,24,43)"]]
DEFAULT_PERCENTILE = 99.5


def heatmap(relevance: torch.Tensor | np.ndarray) -> np.ndarray:
    """Channel-summed relevance (N, H, W) as float32 numpy."""
    r = relevance.detach().cpu().numpy() if isinstance(relevance, torch.Tensor) else np.asarray(relevance)
    if r.ndim != 4:
        raise InputError("Relevance must be shaped (N, C, H, W).")
    return r.sum(axis=1).astype(np.float32)


@dataclass(frozen=True)
class ColourScale:
    """The colours of a map: ``[-limit, limit]`` (``signed``) or ``[0, limit]``, ``limit`` the ``percentile``
    of |value| over the maps in ``scope`` (e.g. "own scale", "one scale for this row")."""

    limit: float
    signed: bool = True
    percentile: float = 100.0
    scope: str = "own scale"

    def ends(self) -> tuple[float, float]:
        return (-self.limit if self.signed else 0.0), self.limit

    def describe(self) -> str:
        """``"±4.4e-05 (own scale, 99.5th percentile of |relevance|)"``."""
        span = f"±{self.limit:.2g}" if self.signed else f"0 to {self.limit:.2g}"
        return f"{span} ({self.scope}, {self.percentile:g}th percentile of |relevance|)"

    def to_dict(self) -> dict:
        low, high = self.ends()
        return asdict(self) | {"low": low, "high": high}


def shared_scale(maps: Iterable[np.ndarray], percentile: float = 100.0) -> float:
    """One limit for several maps: the ``percentile`` of their absolute values (1 where that is 0)."""
    if not 0 < percentile <= 100:
        raise InputError("The colour-scale percentile must lie in (0, 100].")
    values = np.concatenate([np.abs(np.asarray(m, dtype=np.float64)).ravel() for m in maps])
    scale = float(np.percentile(values, percentile)) if values.size else 0.0
    return scale if scale > 0 else 1.0


def scale_of(maps: Iterable[np.ndarray], percentile: float = DEFAULT_PERCENTILE, signed: bool = True,
             scope: str = "own scale") -> ColourScale:
    """The ``ColourScale`` the ``maps`` share (``shared_scale`` of them)."""
    return ColourScale(shared_scale(maps, percentile), signed, percentile, scope)


def colorize(map2d: np.ndarray, scale: ColourScale | float) -> np.ndarray:
    """RGB uint8 image of a 2-D map: diverging over [-limit, limit], or white to red over [0, limit]
    for an unsigned scale (a plain number is a signed scale's limit)."""
    scale = scale if isinstance(scale, ColourScale) else ColourScale(float(scale))
    t = np.clip(np.asarray(map2d, dtype=np.float64) / scale.limit, -1.0 if scale.signed else 0.0, 1.0)
    low = t < 0
    a = np.where(low, -t, t)[..., None]
    end = np.where(low[..., None], _ANCHORS[0], _ANCHORS[2])
    return np.round((1 - a) * _ANCHORS[1] + a * end).astype(np.uint8)


def png_bytes(rgb: np.ndarray, text: dict[str, str] | None = None) -> bytes:
    """PNG encoding of an RGB (or grayscale: (H, W) or (H, W, 1)) uint8 array, with ``text`` as PNG text
    chunks."""
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    Image.fromarray(rgb[..., 0] if rgb.ndim == 3 and rgb.shape[-1] == 1 else rgb).save(buffer, format="PNG",
                                                                                       pnginfo=info)
    return buffer.getvalue()


BAR_HEIGHT, LABEL_HEIGHT, MIN_SIDE = 12, 16, 224


def map_png(map2d: np.ndarray, scale: ColourScale, title: str = "") -> bytes:
    """A map as a PNG that says how to read it: the map (enlarged to at least 224 px, nearest
    neighbour), its colour bar with the scale's ends written under it, ``title`` above, and the scale
    in a text chunk ``xadv:colour_scale`` (JSON)."""
    picture = Image.fromarray(colorize(map2d, scale))
    factor = max(1, -(-MIN_SIDE // max(picture.size)))
    picture = picture.resize((picture.width * factor, picture.height * factor), Image.NEAREST)
    width = picture.width
    top = LABEL_HEIGHT if title else 0
    canvas = Image.new("RGB", (width, top + picture.height + BAR_HEIGHT + LABEL_HEIGHT + 4), "white")
    canvas.paste(picture, (0, top))
    low, high = scale.ends()
    ramp = np.linspace(low, high, width)[None, :].repeat(BAR_HEIGHT, 0)
    canvas.paste(Image.fromarray(colorize(ramp, scale)), (0, top + picture.height + 2))
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default()
    y = top + picture.height + BAR_HEIGHT + 3
    labels = [(0, f"{low:.2g}"), (width, f"{high:+.2g}")] + ([(width // 2, "0")] if scale.signed else [])
    for x, label in labels:
        w = draw.textlength(label, font=font)
        draw.text((min(max(x - w / 2, 0), width - w), y), label, fill="black", font=font)
    if title:
        draw.text((2, 2), title, fill="black", font=font)
    return png_bytes(np.asarray(canvas), {"xadv:colour_scale": json.dumps(scale.to_dict())})


def perturbation_image(delta: np.ndarray, peak: float | None = None) -> tuple[np.ndarray, float]:
    """A perturbation (C, H, W) made visible: ``0.5 + k * delta`` with ``k = 0.5 / peak``, as uint8
    (H, W, C); ``peak`` is ``max|delta|`` unless given (the largest of several perturbations shown
    together, so they share one factor). Returns the image and ``k`` (1 for a zero peak)."""
    d = np.asarray(delta, dtype=np.float64)
    peak = float(np.abs(d).max()) if peak is None else peak
    factor = 0.5 / peak if peak > 0 else 1.0
    rgb = np.clip(0.5 + factor * d, 0.0, 1.0).transpose(1, 2, 0)
    return np.round(rgb * 255).astype(np.uint8), factor
