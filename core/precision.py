"""Float64 copies of tensors, for sums and comparisons that float32 rounding would blur."""
from __future__ import annotations

import torch


def as_float64(t: torch.Tensor) -> torch.Tensor:
    """``t`` in float64, on the CPU where the device has no float64 (Apple's MPS)."""
    return t.to("cpu" if t.device.type == "mps" else t.device, torch.float64)
