"""Grounding the selected attributes on an image (section 3.2 of the attributes paper, eq. 6 and the
matching that follows it), with the image's own measured attributes in place of the Faster R-CNN of
Visual Genome.

An SJE-selected attribute i of an image (eq. 7 / 8) is *grounded* when the image carries it: its measured
value has a location on the image (``Measurements.present``: a hole to point at, a stroke end, ...) and lies
on the same side of the reference as the SJE prediction ``A_i`` (the reference: the mean of phi_i over the
classes, our reading of "the class mean"; 0 for standardised digit attributes over a balanced split). It is
then drawn at its location mask. Beside it, the attribution map of ``A_i(x)`` (``attribute_model``: the
classifier with its last linear layer replaced by ``theta -> A``, so LRP and captum's methods explain an
attribute as they explain a logit) and the share of its positive relevance inside the mask (a pointing-game
figure). Without measurements (a user's dataset) only the attribution is given, and said so.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.attributes.features import last_linear, with_head
from core.attributes.morphometry import Measurements
from core.attributes.sje import SJE
from core.errors import InputError
from core.explain import relevance


def attribute_model(model: nn.Module, sje: SJE) -> nn.Module:
    """A copy of ``model`` whose outputs are the predicted attributes ``A = theta(x) W`` (eq. 5), (N, K): its
    last linear layer becomes ``theta -> ((theta - mean) / scale) W``."""
    if last_linear(model).in_features != sje.W.shape[0]:
        raise InputError(f"The SJE was learnt on {sje.W.shape[0]} features; this model gives "
                         f"{last_linear(model).in_features}.")
    W = sje.W / sje.scale
    return with_head(model, W.T, -(sje.mean.to(W) @ W))


@dataclass(frozen=True)
class Grounding:
    """The grounding of ``indices`` (N, k) on images (N, C, H, W): ``predicted`` A_i (N, k), ``relevance``
    (N, k, H, W) of A_i (channels summed), and, where the images were measured, ``measured`` (standardised,
    (N, k)), ``present``, ``grounded`` (N, k) bool, ``masks`` (N, k, H, W) and ``inside_share`` (N, k)."""

    indices: torch.Tensor
    predicted: torch.Tensor
    relevance: torch.Tensor
    method: str
    measured: torch.Tensor | None = None
    present: torch.Tensor | None = None
    grounded: torch.Tensor | None = None
    masks: torch.Tensor | None = None
    inside_share: torch.Tensor | None = None

    @property
    def label(self) -> str:
        return (f"grounded by the measured attributes; {self.method} of A_i" if self.masks is not None else
                f"attribution only ({self.method} of A_i): no measured attributes on these images")


def inside_share(relevance: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The share of each map's positive relevance that falls inside its mask (..., H, W) -> (...,); 0 where
    the map has no positive relevance."""
    positive = relevance.clamp_min(0).flatten(-2)
    total = positive.sum(-1)
    inside = (positive * masks.flatten(-2).to(positive)).sum(-1)
    return torch.where(total > 0, inside / total.clamp_min(1e-30), torch.zeros_like(total))


def agrees(predicted: torch.Tensor, measured: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """True where the measured and the predicted value lie on the same side of ``reference`` (strictly)."""
    return (predicted - reference) * (measured - reference) > 0


def ground(model: nn.Module, sje: SJE, x: torch.Tensor, indices: torch.Tensor, *,
           measured: Measurements | None = None, standardised: torch.Tensor | None = None,
           method: str = "integrated_gradients", **params) -> Grounding:
    """Ground the attributes ``indices`` (N, k) of each image of ``x`` (see the module docstring).

    ``measured``: the images' measurements, ``standardised`` their values standardised as phi was (N, K)."""
    n, k = indices.shape
    if n != x.shape[0]:
        raise InputError(f"Grounding needs one row of attribute indices per image; got {n} rows for {x.shape[0]}.")
    heads = attribute_model(model, sje)
    with torch.no_grad():
        predicted_all = heads(x)
    predicted = predicted_all.gather(1, indices)
    repeated = x.repeat_interleave(k, 0)
    maps = relevance(heads, repeated, indices.reshape(-1), method, **params).sum(1)
    maps = maps.reshape(n, k, *x.shape[2:])
    if measured is None:
        return Grounding(indices, predicted, maps, method)
    if standardised is None:
        raise InputError("Grounding with measurements needs their standardised values too.")
    values, present, grounded = carried(measured, standardised, predicted, indices, sje.phi)
    masks = measured.masks[torch.arange(n)[:, None], indices]
    return Grounding(indices, predicted, maps, method, values, present, grounded, masks, inside_share(maps, masks))


def carried(measured: Measurements, standardised: torch.Tensor, predicted: torch.Tensor, indices: torch.Tensor,
            phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Whether each image carries its selected attributes ``indices`` (N, k) predicted as ``predicted`` (N, k):
    (their standardised measured values, present, grounded), each (N, k); the reference is the mean of phi
    (C, K) over the classes."""
    values = standardised.gather(1, indices)
    reference = phi.mean(0).to(values)[indices]
    present = measured.present.to(indices.device).gather(1, indices)
    return values, present, present & agrees(predicted, values, reference)
