"""Compute package of the explainable adversarial ML dashboard (no Streamlit in here)."""
from __future__ import annotations

import torch

__version__ = "0.2.3"


def device() -> torch.device:
    """The best available device: CUDA, then Apple MPS, then CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
