"""The C2F study as a page shows it for one image: its labels with class names and probabilities, its
decision after an attack, the LRP maps and loss terms of a pair of classes, one attack's verdict, the maps
of the comparison grid on their colour scales, and the steps of the classroom demo.

Records of plain numbers and names (batch of one, on the CPU), so a page only formats them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from core.attacks.c2f import C2FLabels
from core.attacks.lrp_c2f import loss_of_norms, lrp_norms
from core.explain.heatmap import DEFAULT_PERCENTILE, ColourScale, heatmap, scale_of
from core.explain.lrp import LRPRules
from core.models.hierarchy import HierarchicalClassifier
from core.models.locks import model_lock
from core.studies.c2f import StudyConfig, relevance_pair

Indices = tuple[int, int, int, int]  # r_org, r_adv, f_org, f_adv
Maps = tuple[np.ndarray, np.ndarray]  # the LRP maps (H, W) of the original and the adversarial class


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
             p: float) -> tuple[Maps, LossTerms]:
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


ORIGINAL = "x"  # the comparison grid's row of the original image
SCOPES = {False: ("one scale for this row", "own scale"),
          True: ("one scale for all rows", "one scale for all rows' changes")}


@dataclass(frozen=True)
class GridMaps:
    """One row of the comparison grid (the original image, ``ORIGINAL``, or an attack's column name): the two
    LRP maps at its image, their changes from the original's (after minus before; None on the original's
    row), and the colour scales they are drawn on: ``scale`` for both maps, ``change_scales`` one per change."""

    name: str
    maps: Maps
    changes: Maps | None
    scale: ColourScale
    change_scales: tuple[ColourScale, ColourScale] | None


def grid_maps(before: Maps, after: Sequence[tuple[str, Maps]], percentile: float = DEFAULT_PERCENTILE,
              one_scale: bool = False) -> list[GridMaps]:
    """The grid's rows: the original's maps ``before``, then each attack's (``(name, maps)``) with their
    changes. Each row's two maps share one signed scale of that row alone, so a weak row is not drawn blank
    beside a strong one, and each change its own (an attack may move one class's evidence a hundred times
    more than the other's: on one scale the smaller change would look blank); ``one_scale``: all maps on
    one scale, all changes on another, so magnitudes compare across rows. Scales end at the ``percentile``
    of |value|."""
    changes = [(a[0] - before[0], a[1] - before[1]) for _, a in after]
    scope, change_scope = SCOPES[one_scale]
    if one_scale:
        every = scale_of([*before, *(m for _, maps in after for m in maps)], percentile, scope=scope)
        every_change = scale_of([c for pair in changes for c in pair], percentile, scope=change_scope)
    rows = [GridMaps(ORIGINAL, before, None, every if one_scale else scale_of(before, percentile, scope=scope), None)]
    for (name, maps), change in zip(after, changes):
        rows.append(GridMaps(name, maps, change, every if one_scale else scale_of(maps, percentile, scope=scope),
                             (every_change,) * 2 if one_scale else
                             tuple(scale_of([c], percentile, scope=change_scope) for c in change)))
    return rows


def before_after_scale(before: Maps, after: Maps, percentile: float = DEFAULT_PERCENTILE) -> ColourScale:
    """One scale for an attack's maps before and after it, so switching between the two compares them."""
    return scale_of([*before, *after], percentile, scope="one scale for before and after")


# ---------------------------------------------------------------- the classroom demo

DEMO_MODEL, DEMO_HIERARCHY, DEMO_IMAGE = "efficientnet_lite0", "imagenet_c2f", "coffee"
DEMO_CONFIG = StudyConfig(level="coarse", eps_255=(10.0,))  # LRPC at 10/255 beside DFC and PGDC at their defaults


@dataclass(frozen=True)
class DemoRow:
    """What the demo tells of one attack on its image: the column name, the attack ("lrp", "deepfool",
    "pgd"), whether it fooled, the decision after it, ``||eta||_2``, and the total relevance of the two
    maps after it (original class, adversarial class)."""

    name: str
    attack: str
    fooled: bool
    after: NamedDecision
    l2: float
    totals: tuple[float, float]


@dataclass(frozen=True)
class DemoStep:
    """One step of the demo: its title, a plain sentence on what to look at, and the grid rows it shows
    (``ORIGINAL`` or column names; none: the image and the decision)."""

    title: str
    look: str
    rows: tuple[str, ...]


def _moved(before: float, after: float) -> str:
    return f"{'rose' if after > before else 'fell'} from {before:.3g} to {after:.3g}"


def _decided(labels: NamedLabels, row: DemoRow) -> str:
    after = row.after.coarse
    if after.index == labels.r_org.index:
        return f"the decision stayed {after.name} ({after.prob:.0%})"
    return f"the decision went from {labels.r_org.name} to {after.name} ({after.prob:.0%})"


def _size(row: DemoRow, lrp: DemoRow | None) -> str:
    """How ``row``'s perturbation compares with the LRP attack's (in ``||eta||_2``)."""
    if lrp is None or not (row.l2 > 0 and lrp.l2 > 0):
        return ""
    if row.l2 < lrp.l2:
        return f", with a perturbation {lrp.l2 / row.l2:.2g}× smaller than LRPC's"
    return f", with a perturbation {row.l2 / lrp.l2:.2g}× larger than LRPC's"


def demo_steps(labels: NamedLabels, before_totals: tuple[float, float], rows: Sequence[DemoRow],
               eps_255: float = DEMO_CONFIG.eps_255[0]) -> list[DemoStep]:
    """The demo's four steps for an image with ``labels`` whose maps before the attacks sum to
    ``before_totals``: what the model sees and decides, where its evidence lies, what the LRP attack (at
    ``eps_255``) changed, and how the other attacks differ; a step whose attack did not run is left out."""
    org, adv = labels.r_org, labels.r_adv
    steps = [
        DemoStep("What the model sees and decides",
                 f"The model sees this photo and decides {org.name} ({org.prob:.1%}). Its runner-up, {adv.name} "
                 f"({adv.prob:.1%}), is the class the LRP attack will push it towards.", ()),
        DemoStep(f"Where its evidence for {org.name} lies",
                 f"Red pixels speak for the class named above the map, blue ones against it, white ones not at "
                 f"all: the first map shows where the model finds {org.name}, the second where it finds {adv.name}.",
                 (ORIGINAL,)),
    ]
    lrp = next((row for row in rows if row.attack == "lrp"), None)
    if lrp is not None:
        steps.append(DemoStep(
            "What LRPC changed",
            f"LRPC moved every pixel by at most {eps_255:g}/255, too little to see in the photo, and "
            f"{_decided(labels, lrp)}. It did so by attacking the explanation: the change maps (after minus "
            f"before; red: more evidence, blue: less) show where; the total evidence for {org.name} "
            f"{_moved(before_totals[0], lrp.totals[0])}, for {adv.name} {_moved(before_totals[1], lrp.totals[1])}.",
            (lrp.name,)))
    others = [row for row in rows if row.attack != "lrp"]
    if others:
        said = "; ".join(f"after {row.name} {_decided(labels, row)}{_size(row, lrp)}" for row in others)
        steps.append(DemoStep(
            "How DeepFool and PGD differ",
            f"DeepFool takes the smallest step over the nearest decision boundary, PGD steps against the original "
            f"class until the decision changes; neither looks at the explanation. A{said[1:]}. Compare their "
            "change maps with LRPC's.",
            tuple(row.name for row in others)))
    return steps
