"""Projected gradient descent under an l_inf budget (Madry et al.), flat and coarse-to-fine.

``x_{t+1} = Proj_{||x' - x||_inf <= eps, [0,1]}(x_t + alpha * sign(grad_x L(x_t)))`` with the
cross-entropy ``L`` of the true label (untargeted) or minus that of ``target`` (targeted).
C2F variants (the poster's baselines): PGDC maximises ``CE(C(x'), r_org)``; PGDF maximises
``CE(F^{r_org}(x'), f_org) - coarse_weight * CE(C(x'), r_org)``, i.e. it leaves the fine class while
holding on to the coarse one (our choice: the poster does not spell out how PGDF keeps the coarse
class; ``coarse_weight=0`` gives plain PGD on the fine classifier). Default step size
``alpha = 2.5 * eps / steps``. On a CPU, images go through the network in channels-last layout where
it takes it (``core.attacks.layout``); the returned tensors are in the usual layout.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.attacks.budget import linf_budget
from core.attacks.c2f import C2FLabels, check_level, judged, label_record
from core.attacks.goals import Goal, Misclassified, Targeted
from core.attacks.layout import working_layout
from core.attacks.loop import Progress, StepOutcome, projected_ascent
from core.attacks.result import AttackResult
from core.models.hierarchy import HierarchicalClassifier
from core.models.locks import model_lock
from core.validate import check_images_for, check_labels


def _gain_and_grad(gain_fn, x_adv: torch.Tensor):
    x_adv = x_adv.detach().requires_grad_()
    gain, aux = gain_fn(x_adv)
    (grad,) = torch.autograd.grad(gain.sum(), x_adv)
    return gain.detach(), aux, grad


class CrossEntropyObjective:
    """PGD's objective on a flat classifier: gain ``CE(f(x'), y)`` (untargeted) or ``-CE(f(x'), t)``
    (targeted), judged by ``goal``."""

    def __init__(self, model: nn.Module, y: torch.Tensor, target: torch.Tensor | None):
        self.model, self.y, self.target = model, y, target
        self.goal: Goal = Misclassified(y) if target is None else Targeted(target)

    def _gain(self, x_adv, rows):
        logits = self.model(x_adv)
        if self.target is None:
            return F.cross_entropy(logits, self.y[rows], reduction="none"), logits
        return -F.cross_entropy(logits, self.target[rows], reduction="none"), logits

    def step(self, x_adv, rows):
        gain, logits, grad = _gain_and_grad(lambda z: self._gain(z, rows), x_adv)
        return StepOutcome(gain, self.goal(rows, logits.detach()), grad)

    @torch.no_grad()
    def success(self, x_adv, rows):
        logits = self.model(x_adv)
        return self.goal(rows, logits), (logits,)


@torch.no_grad()
def class_count(model: nn.Module, x: torch.Tensor) -> int:
    """How many classes ``model`` scores (one forward pass of one input)."""
    return model(x[:1]).shape[1]


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, target: torch.Tensor | None = None,
        eps: float = 8 / 255, alpha: float | None = None, steps: int = 10, random_start: bool = True,
        seed: int = 0, early_stop: bool = False, progress: Progress | None = None) -> AttackResult:
    """PGD-l_inf on a classifier ``model`` (logits) with true labels ``y`` (or a ``target``), one class
    index per image."""
    check_images_for(model, x)
    ball, alpha = linf_budget(eps, alpha, steps)
    with model_lock(model):
        working = working_layout(model, x)
        classes = class_count(model, working)
        y = check_labels("labels y", y, x.shape[0], classes).to(x.device)
        if target is not None:
            target = check_labels("targets", target, x.shape[0], classes).to(x.device)
        out = projected_ascent(working, CrossEntropyObjective(model, y, target),
                               projection=ball, alpha=alpha, steps=steps, start_random=random_start, seed=seed,
                               early_stop=early_stop, progress=progress)
    params = {"eps": eps, "alpha": alpha, "steps": steps, "random_start": random_start, "seed": seed,
              "early_stop": early_stop, "targeted": target is not None}
    return AttackResult("PGD", out.x_adv, out.x_adv - x.detach(), out.success, out.iterations, params,
                        history={"loss": out.gain})


class C2FObjective:
    """PGDC's and PGDF's objective (see the module docstring), judged by the level's goal."""

    def __init__(self, hc: HierarchicalClassifier, labels: C2FLabels, level: str, coarse_weight: float):
        self.hc, self.labels, self.level, self.coarse_weight = hc, labels, level, coarse_weight
        self.goal = labels.goal(level)

    def _gain(self, x_adv, rows):
        coarse, fine = self.hc.logits(x_adv, self.labels.r_org[rows])
        coarse_ce = F.cross_entropy(coarse, self.labels.r_org[rows], reduction="none")
        if self.level == "coarse":
            return coarse_ce, (coarse, fine)
        fine_ce = F.cross_entropy(fine, self.labels.f_org[rows], reduction="none")
        return fine_ce - self.coarse_weight * coarse_ce, (coarse, fine)

    def step(self, x_adv, rows):
        gain, (coarse, fine), grad = _gain_and_grad(lambda z: self._gain(z, rows), x_adv)
        return StepOutcome(gain, self.goal(rows, coarse.detach(), fine.detach()), grad)

    def success(self, x_adv, rows):
        return judged(self.hc, self.level, self.labels, rows, x_adv)


def pgd_c2f(hc: HierarchicalClassifier, x: torch.Tensor, *, level: str = "coarse", eps: float = 8 / 255,
            alpha: float | None = None, steps: int = 10, random_start: bool = False, seed: int = 0,
            early_stop: bool = True, coarse_weight: float = 1.0,
            progress: Progress | None = None) -> AttackResult:
    """PGDC (``level="coarse"``) or PGDF (``level="fine"``) with the poster's goals (see core.attacks.c2f).
    The defaults are the usual PGD ones; the C2F study (``core.studies.c2f.StudyConfig``, c2f-eval, the
    page) runs it with eps 10/255, steps of 1/255 and up to 20 steps."""
    check_level(level)
    check_images_for(hc, x)
    ball, alpha = linf_budget(eps, alpha, steps)
    with model_lock(hc):
        labels = C2FLabels.of(hc, x)
        out = projected_ascent(working_layout(hc, x, hc.logits), C2FObjective(hc, labels, level, coarse_weight),
                               projection=ball, alpha=alpha, steps=steps, start_random=random_start, seed=seed,
                               early_stop=early_stop, movable=labels.attackable(level), progress=progress)
        record = label_record(labels, *out.outputs)  # from the pass that judged success
    params = {"level": level, "eps": eps, "alpha": alpha, "steps": steps, "random_start": random_start,
              "seed": seed, "early_stop": early_stop, "coarse_weight": coarse_weight}
    name = "PGDC" if level == "coarse" else "PGDF"
    return AttackResult(name, out.x_adv, out.x_adv - x.detach(), out.success, out.iterations, params, record,
                        {"loss": out.gain})
