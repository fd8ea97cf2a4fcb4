"""I-FGSM, the iterative fast gradient sign method of Kurakin et al. (eq. 1 of the attributes paper).

``x^0 = x``, ``x^{i+1} = Clip_eps{ x^i + alpha sign(grad_x L(x^i, y)) }`` with the cross-entropy ``L`` of the
true label (untargeted) or minus that of a ``target``; ``Clip_eps`` keeps every pixel within ``eps`` of ``x``
and in [0, 1]. It is PGD without its random start (``pgd(..., random_start=False)``: the shared projected
loop with the cross-entropy objective and a sign step). Defaults follow Kurakin et al.: ``alpha = 1/255`` and
``steps = min(255 eps + 4, 1.25 * 255 eps)`` rounded up (at least 1); our choice where the paper is silent:
all steps run (``early_stop=False``, as torchattacks' BIM), so the same ``eps`` gives the same image whatever
the model's margin.
"""
from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from core.attacks.budget import check_eps
from core.attacks.loop import Progress
from core.attacks.pgd import pgd
from core.attacks.result import AttackResult


def kurakin_steps(eps: float) -> int:
    """Kurakin et al.'s number of steps for a budget ``eps`` in [0, 1]: ``ceil(min(255 eps + 4, 1.25 * 255 eps))``."""
    e = 255 * check_eps(eps)
    return max(1, math.ceil(min(e + 4, 1.25 * e)))


def ifgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, target: torch.Tensor | None = None,
          eps: float = 0.06, alpha: float | None = 1 / 255, steps: int | None = None, early_stop: bool = False,
          progress: Progress | None = None) -> AttackResult:
    """I-FGSM (eq. 1) on a classifier ``model`` (logits) with true labels ``y`` (or a ``target``).

    ``alpha=None`` takes ``eps / steps``; ``steps=None`` takes ``kurakin_steps(eps)``."""
    steps = kurakin_steps(eps) if steps is None else steps
    alpha = eps / max(steps, 1) if alpha is None and eps > 0 else alpha
    result = pgd(model, x, y, target=target, eps=eps, alpha=alpha, steps=steps, random_start=False,
                 early_stop=early_stop, progress=progress)
    params = {k: v for k, v in result.params.items() if k not in ("random_start", "seed")}
    return dataclasses.replace(result, name="I-FGSM", params=params)
