"""What the Attributes page shows of one image, built without Streamlit: the image clean and attacked
(I-FGSM), both classifiers' answers on each, the most discriminative attributes (eq. 7 for the clean image
against the wrong class, eq. 8 for the adversarial one against the true class) and their grounding.

The wrong class y is the study's (``core.studies.attributes.wrong_class``): the general classifier's answer on
the adversarial image, or the clean runner-up where the attack fails.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.attacks.ifgsm import ifgsm
from core.attributes.features import features
from core.attributes.grounding import Grounding, ground
from core.attributes.matrix import Standardiser
from core.attributes.morphometry import measure
from core.attributes.sje import SJE, discriminative
from core.studies.attributes import wrong_class


@dataclass(frozen=True)
class Side:
    """One image (clean or adversarial): the general and attribute-based classes, A (K,), the selected
    attributes with ``A_i - phi(reference)_i``, and their grounding."""

    x: torch.Tensor
    general: int
    attribute: int
    attributes: torch.Tensor
    indices: tuple[int, ...]
    differences: tuple[float, ...]
    reference: int
    grounding: Grounding


@dataclass(frozen=True)
class Inspection:
    label: int
    wrong: int
    eps: float
    fooled: bool
    clean: Side
    adversarial: Side


def _side(model, sje, x, reference, top, rule, standardise, method, params) -> Side:
    theta, logits = features(model, x)
    a = sje.attributes(theta)
    indices, differences = discriminative(a, sje.phi[reference][None], top)
    measured = measure(x) if standardise is not None else None
    grounding = ground(model, sje, x, indices, measured=measured,
                       standardised=standardise(measured.values) if measured is not None else None,
                       method=method, **params)
    return Side(x, int(logits.argmax(1)), int(sje.classify(theta, rule)), a[0], tuple(indices[0].tolist()),
                tuple(differences[0].tolist()), reference, grounding)


def inspect(model: nn.Module, sje: SJE, x: torch.Tensor, label: int, eps: float, *, top: int = 3,
            rule: str = "nearest", standardise: Standardiser | None = None, method: str = "integrated_gradients",
            **params) -> Inspection:
    """The page's view of one image ``x`` (1, C, H, W) of class ``label``; ``standardise`` (the digits'):
    measure and ground the attributes, else attribution only."""
    y = torch.tensor([label], device=x.device)
    x_adv = ifgsm(model, x, y, eps=eps).x_adv
    with torch.no_grad():
        adv_class = model(x_adv).argmax(1)
        top2 = model(x).topk(2, dim=1).indices
    wrong = int(wrong_class(adv_class, y, top2[:, 0], top2[:, 1]))
    adv_class = int(adv_class)
    clean = _side(model, sje, x, wrong, top, rule, standardise, method, params)
    adversarial = _side(model, sje, x_adv, label, top, rule, standardise, method, params)
    return Inspection(label, wrong, eps, adv_class != label, clean, adversarial)
