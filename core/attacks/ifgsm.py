"""I-FGSM, the iterative fast gradient sign method of Kurakin et al. (eq. 1 of the attributes paper).

``x^0 = x``, ``x^{i+1} = Clip_eps{ x^i + alpha sign(grad_x L(x^i, y)) }`` with the cross-entropy ``L`` of the
true label (untargeted) or minus that of a ``target``; ``Clip_eps`` keeps every pixel within ``eps`` of ``x``
and in [0, 1]. It is the shared projected loop (``loop.projected_ascent``) with PGD's cross-entropy
objective, a sign step and no random start. Defaults follow Kurakin et al.: ``alpha = 1/255`` and
``steps = min(255 eps + 4, 1.25 * 255 eps)`` rounded up (at least 1); our choice where the paper is silent:
all steps run (``early_stop=False``, as torchattacks' BIM), so the same ``eps`` gives the same image whatever
the model's margin.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from core.attacks.budget import check_eps, linf_budget
from core.attacks.layout import working_layout
from core.attacks.loop import Progress, projected_ascent
from core.attacks.pgd import CrossEntropyObjective, class_count
from core.attacks.result import AttackResult
from core.models.locks import model_lock
from core.validate import check_images_for, check_labels


def kurakin_steps(eps: float) -> int:
    """Kurakin et al.'s number of steps for a budget ``eps`` in [0, 1]: ``ceil(min(255 eps + 4, 1.25 * 255 eps))``."""
    e = 255 * check_eps(eps)
    return max(1, math.ceil(min(e + 4, 1.25 * e)))


def ifgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, target: torch.Tensor | None = None,
          eps: float = 0.06, alpha: float | None = 1 / 255, steps: int | None = None, early_stop: bool = False,
          progress: Progress | None = None) -> AttackResult:
    """I-FGSM (eq. 1) on a classifier ``model`` (logits) with true labels ``y`` (or a ``target``).

    ``alpha=None`` takes ``eps / steps``; ``steps=None`` takes ``kurakin_steps(eps)``."""
    check_images_for(model, x)
    steps = kurakin_steps(eps) if steps is None else steps
    ball, alpha = linf_budget(eps, eps / max(steps, 1) if alpha is None and eps > 0 else alpha, steps)
    with model_lock(model):
        working = working_layout(model, x)
        classes = class_count(model, working)
        y = check_labels("labels y", y, x.shape[0], classes).to(x.device)
        if target is not None:
            target = check_labels("targets", target, x.shape[0], classes).to(x.device)
        out = projected_ascent(working, CrossEntropyObjective(model, y, target), projection=ball, alpha=alpha,
                               steps=steps, start_random=False, early_stop=early_stop, progress=progress)
    params = {"eps": eps, "alpha": alpha, "steps": steps, "early_stop": early_stop, "targeted": target is not None}
    return AttackResult("I-FGSM", out.x_adv, out.x_adv - x.detach(), out.success, out.iterations, params,
                        history={"loss": out.gain})
