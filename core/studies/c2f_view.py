"""The C2F study as a page shows it for one image: its labels with class names and probabilities, its
decision after an attack, the LRP maps and loss terms of a pair of classes, and one attack's verdict.

Records of plain numbers and names (batch of one, on the CPU), so a page only formats them.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from core.attacks.c2f import C2FLabels
from core.attacks.lrp_c2f import loss_of_norms, lrp_norms
from core.explain.heatmap import heatmap
from core.explain.lrp import LRPRules
from core.models.hierarchy import HierarchicalClassifier
from core.models.locks import model_lock
from core.studies.c2f import relevance_pair

Indices = tuple[int, int, int, int]  # r_org, r_adv, f_org, f_adv


@dataclass(frozen=True)
class NamedClass:
    """One class of a level: its index (a coarse class, or a position among r_org's members), name and
    probability (softmax over the level)."""

    index: int
    name: str
    prob: float


@dataclass(frozen=True)
class NamedLabels:
    """The C2F labels of one image (``C2FLabels``) with names and probabilities: the coarse softmax, and
    the fine softmax within r_org. ``target`` is the class of the level the LRP attack is aimed at
    instead of the runner-up (``aimed``); then ``r_adv`` or ``f_adv`` is that class."""

    r_org: NamedClass
    r_adv: NamedClass
    f_org: NamedClass
    f_adv: NamedClass
    coarse_names: tuple[str, ...]
    coarse_probs: tuple[float, ...]
    fine_names: tuple[str, ...]  # the members of r_org
    fine_probs: tuple[float, ...]
    target: int | None = None

    @classmethod
    def of(cls, hc: HierarchicalClassifier, x: torch.Tensor) -> NamedLabels:
        """The labels of one image ``x`` (1, C, H, W) on the model's device (``C2FLabels.from_logits``)."""
        with model_lock(hc), torch.no_grad():
            coarse, fine = hc.logits(x)  # fine: within the predicted coarse class, r_org
            labels = C2FLabels.from_logits(coarse, fine)
        r_org, r_adv, f_org, f_adv = (int(v[0]) for v in (labels.r_org, labels.r_adv, labels.f_org, labels.f_adv))
        h = hc.hierarchy
        members = h.fine_names[r_org]
        cp, fp = coarse.softmax(1)[0].cpu(), fine.softmax(1)[0].cpu()
        coarse_probs, fine_probs = tuple(float(p) for p in cp), tuple(float(p) for p in fp[: len(members)])
        return cls(NamedClass(r_org, h.coarse_names[r_org], coarse_probs[r_org]),
                   NamedClass(r_adv, h.coarse_names[r_adv], coarse_probs[r_adv]),
                   NamedClass(f_org, members[f_org], fine_probs[f_org]),
                   NamedClass(f_adv, members[f_adv], fine_probs[f_adv]),
                   tuple(h.coarse_names), coarse_probs, tuple(members), fine_probs)

    def classes(self, level: str) -> tuple[NamedClass, ...]:
        """Every class of ``level``: the coarse classes, or the fine classes of r_org."""
        names, probs = (self.coarse_names, self.coarse_probs) if level == "coarse" else (self.fine_names,
                                                                                         self.fine_probs)
        return tuple(NamedClass(i, name, p) for i, (name, p) in enumerate(zip(names, probs)))

    def pair(self, level: str) -> tuple[NamedClass, NamedClass]:
        """The original class of ``level`` and the adversarial one (the runner-up, or the target)."""
        return (self.r_org, self.r_adv) if level == "coarse" else (self.f_org, self.f_adv)

    def other_targets(self, level: str) -> list[NamedClass]:
        """The classes of ``level`` the LRP attack can be aimed at besides the original class and its
        runner-up, most probable first."""
        taken = {c.index for c in self.pair(level)}
        return sorted((c for c in self.classes(level) if c.index not in taken), key=lambda c: -c.prob)

    def aimed(self, level: str, target: int | None) -> NamedLabels:
        """These labels with the adversarial class of ``level`` set to ``target`` (None: as they are)."""
        if target is None:
            return self
        return replace(self, **{"r_adv" if level == "coarse" else "f_adv": self.classes(level)[target]}, target=target)

    def fine_top(self, k: int = 5) -> list[NamedClass]:
        """The ``k`` most probable fine classes within r_org."""
        return sorted(self.classes("fine"), key=lambda c: -c.prob)[:k]

    def indices(self) -> Indices:
        return self.r_org.index, self.r_adv.index, self.f_org.index, self.f_adv.index

    def to_dict(self) -> dict[str, Any]:
        """The labels' indices, names and probabilities, and the target (the probabilities of every class
        left out)."""
        named = {"r_org": self.r_org, "r_adv": self.r_adv, "f_org": self.f_org, "f_adv": self.f_adv}
        return ({key: c.index for key, c in named.items()} | {f"{key}_name": c.name for key, c in named.items()}
                | {f"{key}_prob": c.prob for key, c in named.items()} | {"target": self.target})


@dataclass(frozen=True)
class NamedDecision:
    """The C2F decision on one image (``HierarchicalClassifier.decide``): the coarse class, then the fine
    class within it (``fine.index`` is its position among the coarse class's members), with names and
    probabilities; ``fine_class`` is its flat class index (-1 for assembled models)."""

    coarse: NamedClass
    coarse_probs: tuple[float, ...]
    fine: NamedClass
    fine_class: int

    @classmethod
    def of(cls, hc: HierarchicalClassifier, x: torch.Tensor) -> NamedDecision:
        """The decision on one image ``x`` (1, C, H, W) on the model's device."""
        with model_lock(hc):
            d = hc.decide(x)
        h = hc.hierarchy
        r, j = int(d.coarse[0]), int(d.fine[0])
        return cls(NamedClass(r, h.coarse_names[r], float(d.coarse_prob[0])),
                   tuple(float(p) for p in d.coarse_probs[0].cpu()),
                   NamedClass(j, h.fine_names[r][j], float(d.fine_prob[0])), int(d.fine_class[0]))

    def to_dict(self) -> dict[str, Any]:
        return {"coarse": self.coarse.index, "coarse_name": self.coarse.name, "coarse_prob": self.coarse.prob,
                "coarse_probs": list(self.coarse_probs), "fine": self.fine.index, "fine_name": self.fine.name,
                "fine_prob": self.fine.prob, "fine_class": self.fine_class}


@dataclass(frozen=True)
class LossTerms:
    """The poster's LRP loss of the maps ``(R_org, R_adv)`` of one image and its four terms: ``pos`` holds
    ``||R^+||_p`` of each map, ``neg`` ``||R^-||_p`` (``lrp_norms``)."""

    pos: tuple[float, float]
    neg: tuple[float, float]
    loss: float

    @classmethod
    def of(cls, org: torch.Tensor, adv: torch.Tensor, p: float) -> LossTerms:
        """From the two maps (1, C, H, W) with norm order ``p``."""
        positive, negative = lrp_norms(torch.stack([org, adv]), p)
        return cls(tuple(positive[:, 0].tolist()), tuple(negative[:, 0].tolist()),
                   float(loss_of_norms(positive, negative)[0]))


def lrp_maps(hc: HierarchicalClassifier, x: torch.Tensor, labels: Indices, level: str, rules: LRPRules,
             p: float) -> tuple[tuple[np.ndarray, np.ndarray], LossTerms]:
    """The poster's two maps of one image ``x`` (1, C, H, W, on the model's device) for ``labels`` (their
    ``indices()``): ``relevance_pair`` by the attack's LRP ``rules``, so they are the maps its loss is of,
    each summed over channels (H, W); and the terms of that loss with norm order ``p``."""
    c2f_labels = C2FLabels(*(torch.tensor([v], device=x.device) for v in labels))
    org, adv = relevance_pair(hc, x, c2f_labels, level, rules)
    return (heatmap(org)[0], heatmap(adv)[0]), LossTerms.of(org, adv, p)


@dataclass(frozen=True)
class Verdict:
    """One attack on one image: whether it fooled the level (the attack's own success), whether the
    image kept its coarse class r_org, and whether its fine class changed (a new coarse class counts)."""

    fooled: bool
    coarse_kept: bool
    fine_changed: bool

    @classmethod
    def of(cls, labels: NamedLabels, after: NamedDecision, fooled: bool) -> Verdict:
        """From the labels before the attack and the decision after it."""
        coarse_kept = after.coarse.index == labels.r_org.index
        return cls(fooled, coarse_kept, not coarse_kept or after.fine.index != labels.f_org.index)
