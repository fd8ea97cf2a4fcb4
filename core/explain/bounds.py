"""Pixel bounds for the z-beta (ZBox) rule at the layers that read the input.

Those layers see normalised pixels, so their bounds are the images of pixel values 0 and 1 under
the model's ``Normalize``: ``l = (0 - mean) / std``, ``h = (1 - mean) / std`` per channel.
"""
from __future__ import annotations

import torch
from torch import nn

from core.errors import UnsupportedError
from core.models.wrapper import Normalize


def input_bounds(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``(l, h)``: pixel 0 and 1 through the model's ``Normalize`` (0 and 1 without one).
    A model with several (an assembled C2F classifier's networks) must normalise alike."""
    norms = [m for m in model.modules() if isinstance(m, Normalize)]
    if not norms:
        param = next(model.parameters())
        return torch.zeros((), device=param.device), torch.ones((), device=param.device)
    first = norms[0]
    if any(not (torch.equal(n.mean, first.mean) and torch.equal(n.std, first.std)) for n in norms[1:]):
        raise UnsupportedError("z-beta bounds the input layers' inputs by the images of pixel values 0 and 1, "
                               "but this model's networks normalise their inputs differently: give them one "
                               "mean and std.")
    return (0.0 - first.mean) / first.std, (1.0 - first.mean) / first.std


def fit_bound(bound: torch.Tensor, input: torch.Tensor) -> torch.Tensor:
    """Per-channel bound values shaped like ``input`` (channel-major when ``input`` is flattened)."""
    values = bound.reshape(-1).to(input)
    if input.dim() == 2:
        if input.shape[1] % values.numel():
            raise UnsupportedError(f"Cannot fit {values.numel()} channel bounds to a flat input of {input.shape[1]}.")
        return values.repeat_interleave(input.shape[1] // values.numel()).expand_as(input)
    return values.view(1, -1, *([1] * (input.dim() - 2))).expand_as(input)
