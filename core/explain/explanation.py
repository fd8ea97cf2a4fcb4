"""One explanation of one image, as a record: relevance, the exact parameters, timing, cache origin.

``explain(loaded, image, method, target, params, cache)`` resolves every parameter to its value
(defaults included, so the record says exactly what ran), reads the persistent cache or computes,
and returns an ``Explanation``. ``Explanation.files()`` gives the downloads: heatmap PNG, NPZ, JSON.
"""
from __future__ import annotations

import inspect
import io
import json
import math
import time
import typing
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from core import timings
from core.cache import ResultCache, cache_key
from core.data.images import LoadedImage
from core.errors import InputError
from core.explain import METHODS, relevance
from core.explain.heatmap import ColourScale, heatmap, map_png, scale_of
from core.explain.lrp import make_composite
from core.models.predict import Prediction, top_k
from core.models.registry import LoadedModel
from core.validate import check_choice, has_json_type

_POSITIONAL = {"model", "x", "target", "name"}


def _parameters(method: str) -> dict[str, tuple[Any, tuple[type, ...]]]:
    """name -> (default, accepted types) of ``method``'s keyword parameters (LRP: its composite's too); the
    types are the annotation's (``int | None`` -> int, NoneType), else the default's."""
    check_choice("method", method, METHODS)
    functions = [METHODS[method]] + ([make_composite] if method == "lrp" else [])
    found: dict[str, tuple[Any, tuple[type, ...]]] = {}
    for fn in functions:
        hints = typing.get_type_hints(fn)
        for p in inspect.signature(fn).parameters.values():
            if p.name not in _POSITIONAL and p.default is not inspect.Parameter.empty and p.name != "canonizers":
                hint = hints.get(p.name)
                found[p.name] = (p.default, typing.get_args(hint) or (hint,) if hint else (type(p.default),))
    return found


def method_defaults(method: str) -> dict[str, Any]:
    """The keyword parameters of ``method`` and their defaults (LRP: its composite's too)."""
    return {name: default for name, (default, _) in _parameters(method).items()}


_KIND_WORDS = {bool: "true or false", int: "an integer", float: "a finite number", str: "a name",
               type(None): "null"}


def _typed(method: str, name: str, value: Any, kinds: tuple[type, ...]) -> Any:
    """``value`` if it has one of ``kinds`` (an integer counts as a float): a JSON ``"False"`` or ``2.5``
    steps would otherwise reach the method as a truthy string or a float captum rejects in its own words."""
    if float in kinds and has_json_type(value, (int, float)):
        if math.isfinite(value):
            return float(value)
    elif has_json_type(value, kinds):
        return value
    if not set(kinds) & set(_KIND_WORDS):  # a tensor baseline and the like: the method checks it
        return value
    wanted = " or ".join(_KIND_WORDS[k] for k in kinds if k in _KIND_WORDS)
    raise InputError(f"The {method} parameter {name} takes {wanted}, got {value!r}.")


def resolve_params(method: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults overridden by ``params``, each of its parameter's type; an unknown name is an error naming
    the valid ones."""
    parameters = _parameters(method)
    unknown = set(params or {}) - set(parameters)
    if unknown:
        raise InputError(f"Unknown parameter(s) {sorted(unknown)} for {method}; valid: {sorted(parameters)}.")
    return {name: _typed(method, name, params[name], kinds) if name in (params or {}) else default
            for name, (default, kinds) in parameters.items()}


def classifier(loaded: LoadedModel) -> nn.Module:
    """The flat classifier of a loaded model (the derived network of a C2F model)."""
    return getattr(loaded.model, "flat", None) or loaded.model


@dataclass(frozen=True)
class Explanation:
    """Relevance (C, H, W) of one image for one target class, with everything needed to reproduce it."""

    model_id: str
    image_digest: str
    image_name: str | None
    method: str
    params: dict[str, Any]
    target: int
    target_name: str
    relevance: np.ndarray = field(repr=False)
    seconds: float
    cached: bool

    @property
    def heatmap(self) -> np.ndarray:
        """Channel-summed relevance (H, W)."""
        return heatmap(self.relevance[None])[0]

    @property
    def signed(self) -> bool:
        """Whether the map can take both signs: all but absolute saliency, which is |df/dx| >= 0."""
        return not (self.method == "saliency" and self.params.get("abs", True))

    def own_scale(self, percentile: float) -> ColourScale:
        """The colour scale of this map alone: where its own structure shows."""
        return scale_of([self.heatmap], percentile, self.signed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_id, "image": self.image_name, "image_digest": self.image_digest,
            "method": self.method, "params": self.params, "target": self.target, "target_name": self.target_name,
            "relevance_sum": float(self.relevance.sum()), "relevance_abs_max": float(np.abs(self.relevance).max()),
            "timings": {"relevance_seconds": self.seconds, "from_cache": self.cached},
        }

    def files(self, predictions: list[Prediction] | None = None, scale: ColourScale | None = None,
              timings: dict[str, float] | None = None) -> dict[str, bytes]:
        """Downloads: ``heatmap.png`` (the map on ``scale``, by default its own, with its colour bar and the
        scale written in it), ``relevance.npz``, ``explanation.json`` (with the colour scale of the PNG, the
        predictions and any further ``timings`` of the caller)."""
        m = self.heatmap
        scale = scale or self.own_scale(100.0)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, relevance=self.relevance, heatmap=m)
        report = self.to_dict() | {"prediction": [p.to_dict() for p in predictions or []],
                                   "colour_scale": scale.to_dict()}
        report["timings"] |= timings or {}
        return {
            "heatmap.png": map_png(m, scale, f"{self.method}, {self.target_name} ({self.target})"),
            "relevance.npz": buffer.getvalue(),
            "explanation.json": json.dumps(report, indent=2).encode(),
        }


def _key(model_id: str, image_digest: str, method: str, resolved: dict[str, Any], target: int) -> str:
    return cache_key(kind="explanation", model=model_id, image=image_digest, method=method, params=resolved,
                     target=target)


def _timing_kind(model_id: str, method: str, resolved: dict[str, Any]) -> str:
    return f"explain/{method}/{model_id}/{cache_key(params=resolved)[:16]}"


def estimate_seconds(loaded: LoadedModel, image: LoadedImage, method: str, target: int,
                     params: dict[str, Any] | None, cache: ResultCache) -> float | None:
    """How long ``explain`` with these arguments would take on this machine: 0 where it is cached, the
    median of this method's last runs with these parameters on this model here, or None before any."""
    resolved = resolve_params(method, params)
    if _key(loaded.info.model_id, image.digest, method, resolved, int(target)) in cache:
        return 0.0
    return timings.seconds_per_input(cache, _timing_kind(loaded.info.model_id, method, resolved))


def explain(loaded: LoadedModel, image: LoadedImage, method: str = "lrp", target: int | None = None,
            params: dict[str, Any] | None = None, cache: ResultCache | None = None) -> Explanation:
    """Relevance of ``image`` for ``target`` (default: the top-1 class) with ``method``, cached."""
    model = classifier(loaded)
    names = loaded.info.class_names
    x = image.tensor.to(loaded.device)
    if target is None:
        target = top_k(model, x, names, k=1)[0][0].index
    if not 0 <= int(target) < len(names):
        raise InputError(f"Target class must lie in 0..{len(names) - 1}.")
    resolved = resolve_params(method, params)

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        start = time.perf_counter()
        r = relevance(model, x, int(target), method, **resolved)
        return {"relevance": r[0].cpu().numpy()}, {"seconds": time.perf_counter() - start}

    if cache is None:
        arrays, meta = compute()
        hit = False
    else:
        key = _key(loaded.info.model_id, image.digest, method, resolved, int(target))
        result, hit = cache.get_or_compute(key, compute)
        arrays, meta = result.arrays, result.meta
        if not hit:
            timings.record(cache, _timing_kind(loaded.info.model_id, method, resolved), meta["seconds"], 1)
    return Explanation(loaded.info.model_id, image.digest, image.source_name, method, resolved, int(target),
                       names[int(target)], arrays["relevance"], float(meta["seconds"]), hit)
