"""Success criteria of attacks, as small objects (after foolbox's ``Misclassification`` and
``TargetedMisclassification``): every attack judges its images through one of them, so that a
success means the same thing in every column of a study's table.

A goal is called as ``goal(rows, *outputs)``: ``rows`` (n,) are the images' places in the attacked
batch, ``outputs`` the model outputs of those images at the current iterate (a flat classifier's
logits (n, K); a coarse-to-fine classifier's coarse logits and the fine logits within the original
coarse class, as ``HierarchicalClassifier.logits`` gives them). It returns (n,) bool, True where the
goal is met. Labels are held for the whole batch and indexed by ``rows``, so an attack may pass only
the images still moving.

- ``Misclassified(y)``: ``argmax f(x') != y`` of the first output; on a coarse-to-fine classifier,
  ``Misclassified(r_org)`` is the LRP poster's coarse goal ``C(x') != r_org``.
- ``Targeted(t)``: ``argmax f(x') == t``.
- ``FineChanged(r_org, f_org)``: the poster's fine goal, ``F^{r_org}(x') != f_org`` while ``C(x') = r_org``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch


class Goal(Protocol):
    def __call__(self, rows: torch.Tensor, *outputs: torch.Tensor) -> torch.Tensor: ...


def runner_up(logits: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
    """``argmax_{k != top} logits_k`` per row; ``top`` itself where no other class has a finite logit (the
    fine level of a coarse class with one fine class: no runner-up to push the image to)."""
    others = logits.scatter(1, top[:, None], float("-inf"))
    best = others.argmax(1)
    return torch.where(torch.isfinite(others.gather(1, best[:, None]).squeeze(1)), best, top)


@dataclass(frozen=True)
class Misclassified:
    """Untargeted: the decision leaves the label ``y`` (N,)."""

    y: torch.Tensor

    def __call__(self, rows: torch.Tensor, logits: torch.Tensor, *_: torch.Tensor) -> torch.Tensor:
        return logits.argmax(1) != self.y[rows]


@dataclass(frozen=True)
class Targeted:
    """Targeted: the decision becomes the class ``target`` (N,)."""

    target: torch.Tensor

    def __call__(self, rows: torch.Tensor, logits: torch.Tensor, *_: torch.Tensor) -> torch.Tensor:
        return ~Misclassified(self.target)(rows, logits)  # the decision is the target: not away from it


@dataclass(frozen=True)
class FineChanged:
    """The fine decision within ``r_org`` leaves ``f_org`` (positions within r_org's members, (N,)) while
    the coarse decision stays ``r_org``: ``F^{r_org}(x') != f_org`` and ``C(x') = r_org``."""

    r_org: torch.Tensor
    f_org: torch.Tensor

    def __call__(self, rows: torch.Tensor, coarse: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
        return (coarse.argmax(1) == self.r_org[rows]) & (fine.argmax(1) != self.f_org[rows])
