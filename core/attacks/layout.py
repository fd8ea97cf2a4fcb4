"""The memory layout the gradient attacks work in: channels-last on a CPU, where the network takes it.

On a CPU (oneDNN) convolutions and their backward passes run faster on channels-last tensors
(EfficientNet-Lite0 at batch 4: forward 1.3x, forward + backward 1.1x; DeepFool at batch 16:
1.2-1.4x). A network that calls ``.view`` on a convolution's output refuses that layout with a
RuntimeError at its first forward pass; it then runs in the layout it was given. Other devices keep
the given layout. The two layouts sum in different orders, so gradients differ in their last bits.
The LRP attacks keep the given layout: channels-last makes their step slower.
"""
from __future__ import annotations

from typing import Callable, TypeVar

import torch

T = TypeVar("T")


def fast_layout(x: torch.Tensor) -> torch.Tensor:
    """The images ``x`` (N, C, H, W) in channels-last layout on a CPU; ``x`` itself elsewhere."""
    if x.device.type == "cpu" and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def in_fast_layout(run: Callable[[torch.Tensor], T], x: torch.Tensor) -> T:
    """``run(fast_layout(x))``, or ``run(x)`` where that raises a RuntimeError (a network that refuses the
    layout fails at its first forward pass)."""
    fast = fast_layout(x)
    if fast is not x:
        try:
            return run(fast)
        except RuntimeError:
            pass
    return run(x)
