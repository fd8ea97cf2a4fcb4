"""Labels and goals of attacks on coarse-to-fine classifiers (LRP poster, "Fooling the Coarse/Fine Level").

Coarse level: ``r_org = C(x)``, ``r_adv = argmax_{i != r_org} C_i(x)``; goal ``C(x + eta) != C(x)``.
Fine level: ``f_org = F^{r_org}(x)``, ``f_adv = argmax_{j != f_org} F^{r_org}_j(x)``; goal
``F^{r_org}(x + eta) != f_org`` while ``C(x + eta) = r_org``. Every attack on a C2F model uses
these labels and these goals (``goals.Misclassified`` of the coarse logits, ``goals.FineChanged``), so its success means
the same thing in every column of a table.
The LRP attacks may be aimed at another adversarial class than the runner-up (``aimed``, our
extension; the poster's is the runner-up): it changes whose evidence they build, not their goal.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from core.attacks.goals import FineChanged, Goal, Misclassified, runner_up
from core.errors import InputError
from core.models.hierarchy import HierarchicalClassifier

LEVELS = ("coarse", "fine")


@dataclass(frozen=True)
class C2FLabels:
    """``r_org``, ``r_adv``, ``f_org``, ``f_adv`` of each image (fine indices are within group r_org)."""

    r_org: torch.Tensor
    r_adv: torch.Tensor
    f_org: torch.Tensor
    f_adv: torch.Tensor

    @classmethod
    @torch.no_grad()
    def of(cls, hc: HierarchicalClassifier, x: torch.Tensor) -> C2FLabels:
        return cls.from_logits(*hc.logits(x))

    @classmethod
    def from_logits(cls, coarse: torch.Tensor, fine: torch.Tensor) -> C2FLabels:
        """From the coarse logits and the fine logits within the predicted coarse class (``hc.logits(x)``)."""
        r_org, f_org = coarse.argmax(1), fine.argmax(1)
        return cls(r_org, runner_up(coarse, r_org), f_org, runner_up(fine, f_org))

    @classmethod
    def from_record(cls, record: dict[str, torch.Tensor]) -> C2FLabels:
        """The labels kept in an attack's ``label_record`` (``AttackResult.labels``)."""
        return cls(record["r_org"], record["r_adv"], record["f_org"], record["f_adv"])

    def original(self, level: str) -> torch.Tensor:
        return self.r_org if level == "coarse" else self.f_org

    def adversarial(self, level: str) -> torch.Tensor:
        return self.r_adv if level == "coarse" else self.f_adv

    def goal(self, level: str) -> Goal:
        """The poster's goal of ``level``, judged on ``(coarse, fine)`` logits (fine: within r_org)."""
        return Misclassified(self.r_org) if level == "coarse" else FineChanged(self.r_org, self.f_org)

    def attackable(self, level: str) -> torch.Tensor:
        """Which images (N,) have a runner-up at ``level``: at the fine level not those whose coarse class
        has one fine class, which no fine-level attack can fool (the attacks leave them unchanged)."""
        return self.adversarial(level) != self.original(level)


def aimed(hc: HierarchicalClassifier, labels: C2FLabels, level: str, target: int | torch.Tensor | None) -> C2FLabels:
    """``labels`` with the adversarial class of ``level`` set to ``target``: a coarse class (``r_adv``) or
    a fine class's position within r_org's members (``f_adv``), one for all images or one per image.
    None keeps the runner-up. A target must be another class than the image's original one."""
    if target is None:
        return labels
    original = labels.original(level)
    t = torch.as_tensor(target, device=original.device)
    if t.dtype in (torch.bool, torch.uint8) or t.is_floating_point() or t.is_complex() or t.dim() > 1:
        raise InputError(f"The target must be a class index (an integer, or one per image), got {target!r}.")
    t = t.long().expand_as(original) if t.dim() == 0 else t.long()
    if t.shape != original.shape:
        raise InputError(f"Give one target for all images or one per image ({original.numel()}), got {t.numel()}.")
    if level == "coarse":
        classes, what = torch.full_like(original, hc.hierarchy.num_coarse), "coarse classes"
    else:
        classes, what = hc.member_mask.sum(1).to(original.device)[labels.r_org], "fine classes in its coarse class"
    outside = (t < 0) | (t >= classes)
    if outside.any():
        i = int(outside.nonzero()[0])
        raise InputError(f"Target {int(t[i])} of image {i + 1} is not among its {int(classes[i])} {what} "
                         f"(0..{int(classes[i]) - 1}).")
    same = t == original
    if same.any():
        i = int(same.nonzero()[0])
        raise InputError(f"Target {int(t[i])} of image {i + 1} is its original class: aim at another one.")
    return replace(labels, **{"r_adv" if level == "coarse" else "f_adv": t})


def check_level(level: str) -> None:
    if level not in LEVELS:
        raise InputError(f"Level must be one of {', '.join(LEVELS)}, got {level!r}.")


@torch.no_grad()
def judged(hc: HierarchicalClassifier, level: str, labels: C2FLabels, rows: torch.Tensor,
           x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """The goal of ``level`` at the images ``x`` of rows ``rows``, and the coarse and fine logits it was
    judged on (for ``label_record``), from one forward pass of ``hc``."""
    logits = hc.logits(x, labels.r_org[rows])
    return labels.goal(level)(rows, *logits), logits


def goal_met(hc: HierarchicalClassifier, level: str, labels: C2FLabels, rows: torch.Tensor,
             x: torch.Tensor) -> torch.Tensor:
    """The goal of ``level`` at the images ``x`` of rows ``rows`` (``judged`` without the logits)."""
    return judged(hc, level, labels, rows, x)[0]


def label_record(labels: C2FLabels, coarse_logits: torch.Tensor, fine_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """Before/after labels for an ``AttackResult`` from the logits at ``x + eta`` (fine: within r_org):
    the coarse decision, and the fine decision within the original coarse class."""
    return {"r_org": labels.r_org, "r_adv": labels.r_adv, "f_org": labels.f_org, "f_adv": labels.f_adv,
            "coarse_after": coarse_logits.argmax(1), "fine_after": fine_logits.argmax(1)}
