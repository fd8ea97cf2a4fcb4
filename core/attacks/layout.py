"""The memory layout the gradient attacks work in: channels-last on a CPU, where the network takes it.

On a CPU (oneDNN) convolutions and their backward passes run faster on channels-last tensors
(EfficientNet-Lite0 at batch 4: forward 1.3x, forward + backward 1.1x; DeepFool at batch 16:
1.2-1.4x). A network that calls ``.view`` on a convolution's output refuses that layout with a
RuntimeError at its first forward pass; it then runs in the usual layout. Other devices keep the
given layout. The two layouts sum in different orders, so gradients differ in their last bits.
The LRP attacks keep the given layout: channels-last makes their step no faster.
"""
from __future__ import annotations

from typing import Callable, TypeVar

import torch

T = TypeVar("T")


def _cpu_images(x: torch.Tensor) -> bool:
    return x.device.type == "cpu" and x.dim() == 4


def fast_layout(x: torch.Tensor) -> torch.Tensor:
    """The images ``x`` (N, C, H, W) in channels-last layout on a CPU; ``x`` itself elsewhere."""
    return x.contiguous(memory_format=torch.channels_last) if _cpu_images(x) else x


def in_fast_layout(run: Callable[[torch.Tensor], T], x: torch.Tensor) -> T:
    """``run(fast_layout(x))``; on a CPU, ``run`` in the usual layout where that raises a RuntimeError: a
    network that refuses channels-last fails at its first forward pass, and any other error comes again
    and is raised."""
    if not _cpu_images(x):
        return run(x)
    try:
        return run(fast_layout(x))
    except RuntimeError:
        return run(x.contiguous())
