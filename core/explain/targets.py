"""Validation of explainer inputs: the batch and the target class of each image."""
from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import torch
from torch import nn

from core.errors import InputError


def target_tensor(target: int | Sequence[int] | torch.Tensor, n: int, device) -> torch.Tensor:
    """Per-image target indices (N,) on ``device``; an int applies to every image."""
    t = torch.as_tensor(target, dtype=torch.long, device=device).reshape(-1)
    if t.numel() == 1:
        t = t.expand(n)
    if t.numel() != n:
        raise InputError(f"Got {t.numel()} targets for {n} images.")
    if (t < 0).any():
        raise InputError("Target classes must be non-negative.")
    return t


@contextmanager
def checked_targets(model: nn.Module, target: torch.Tensor):
    """While active, every forward of ``model`` checks that ``target`` indexes its outputs."""
    highest = int(target.max())

    def check(module, inputs, output):
        if highest >= output.shape[1]:
            raise InputError(f"Target classes must lie in 0..{output.shape[1] - 1}; got {highest}.")

    handle = model.register_forward_hook(check)
    try:
        yield
    finally:
        handle.remove()
