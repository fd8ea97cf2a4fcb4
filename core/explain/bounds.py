"""Pixel bounds for the z-beta (ZBox) rule at the layers that read the input.

Those layers see normalised pixels, so their bounds are the images of pixel values 0 and 1 under
the model's ``Normalize``: ``l = (0 - mean) / std``, ``h = (1 - mean) / std`` per channel. A model whose
input layers read anything else (a BatchNorm or arithmetic on the pixels first) is refused.
"""
from __future__ import annotations

import torch
from torch import nn

from core.errors import UnsupportedError
from core.explain.lrp_graph import input_layers_off_the_pixels
from core.models.wrapper import Normalize


def input_bounds(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``(l, h)``: pixel 0 and 1 through the model's ``Normalize`` (0 and 1 without one).
    A model with several (an assembled C2F classifier's networks) must normalise alike."""
    off = input_layers_off_the_pixels(model)
    if off:
        raise UnsupportedError(
            f"z-beta bounds the input layers' inputs by the images of pixel values 0 and 1, but in this model "
            f"{', '.join(off[:3])} read{'s' if len(off) == 1 else ''} something computed from the pixels in another "
            "way (a BatchNorm or arithmetic before the first layer, say). Normalise the input with "
            "core.models.wrapper.Normalize (ImageClassifier(net, mean, std)) and start the network with its first "
            "convolution or linear layer.")
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

