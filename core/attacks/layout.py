"""The memory layout the gradient attacks work in: channels-last on a CPU, where the network takes it.

On a CPU (oneDNN) convolutions and their backward passes run faster on channels-last tensors
(measured in docs/performance.md). A network that calls ``.view`` on a convolution's output refuses that layout with a
RuntimeError; ``working_layout`` finds out with one image, once per network, and such a network
works in the usual layout. Other devices keep the given layout. The two layouts sum in different
orders, so gradients differ in their last bits. The LRP attacks keep the given layout:
channels-last makes their step no faster.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

import torch
from torch import nn

_TAKES_CHANNELS_LAST: WeakKeyDictionary[nn.Module, bool] = WeakKeyDictionary()


def _cpu_images(x: torch.Tensor) -> bool:
    return x.device.type == "cpu" and x.dim() == 4


def fast_layout(x: torch.Tensor) -> torch.Tensor:
    """The images ``x`` (N, C, H, W) in channels-last layout on a CPU; ``x`` itself elsewhere."""
    return x.contiguous(memory_format=torch.channels_last) if _cpu_images(x) else x


def working_layout(network: nn.Module, x: torch.Tensor,
                   forward: Callable[[torch.Tensor], Any] | None = None) -> torch.Tensor:
    """``fast_layout(x)`` where ``network`` takes it, else ``x`` in the usual layout. The first call for a
    network runs ``forward`` (default: the network) on one image in channels-last layout to find out;
    where the usual layout fails as well, nothing is remembered (the attack then raises that error)."""
    if not _cpu_images(x):
        return x
    takes = _TAKES_CHANNELS_LAST.get(network)
    if takes is None:
        takes = _probe(forward or network, x[:1])
        if takes is not None:
            _TAKES_CHANNELS_LAST[network] = takes
    return fast_layout(x) if takes else x.contiguous()


@torch.no_grad()
def _probe(forward: Callable[[torch.Tensor], Any], x1: torch.Tensor) -> bool | None:
    """True if ``forward`` takes channels-last images, False if only the usual layout, None if neither."""
    for layout, answer in ((fast_layout(x1), True), (x1.contiguous(), False)):
        try:
            forward(layout)
            return answer
        except RuntimeError:
            continue
    return None
