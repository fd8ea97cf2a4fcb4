"""Compute package of the explainable adversarial ML dashboard (no Streamlit in here)."""
from __future__ import annotations

import torch

__version__ = "0.2.3"


DEVICE_TYPES = ("cuda", "mps", "cpu")  # in order of preference


def device_available(kind: str) -> bool:
    """Whether torch can use a device of this type (``"cuda"``, ``"mps"`` or ``"cpu"``) here."""
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        return mps is not None and mps.is_available()
    return kind == "cpu"


def device() -> torch.device:
    """The best available device: CUDA, then Apple MPS, then CPU."""
    return torch.device(next(kind for kind in DEVICE_TYPES if device_available(kind)))
