"""DeepFool (Moosavi-Dezfooli et al.), batched over images and over candidate classes.

At the current iterate, for the original class ``y`` and each candidate ``k`` (the ``candidates``
classes ranked highest at the start, ``y`` excluded): ``w_k = grad f_k - grad f_y``,
``f'_k = f_k - f_y``; the closest linearised boundary is ``l = argmin_k |f'_k| / ||w_k||_2`` and the
step ``r = (|f'_l| / ||w_l|| + c) w_l / ||w_l||``, with ``c = crossing``: the DeepFool reference code's
1e-4 by default, which carries each step past the linearised boundary; 0 gives the paper's
Algorithm 1 step. Steps accumulate in ``r_tot`` and the iterate is
``clip(x + (1 + overshoot) r_tot, 0, 1)``; an image stops at the first iterate that meets its goal.
An image with no candidate (no other class with a finite logit, as at the fine level of a coarse
class with one fine class) has no boundary to cross: it is returned unchanged, unsuccessful.
All images still moving go through the network together: one forward pass, then one backward pass
per candidate for the whole batch (rows are independent), never an image at a time. The forward pass
that checks each new iterate also serves the next step's backward passes; where some images have
finished, the others go through again without them, so a finished image costs no more gradients.
On a linear classifier one step lands at
``(1 + overshoot) (|w.x + b| / ||w|| + crossing)``. On a CPU, images go through the network in
channels-last layout where it takes it (``core.attacks.layout``); the returned tensors are in the
usual layout, and the returned success is judged on them (one more forward pass), so it agrees with a
fresh forward pass.

C2F variants: DFC on the coarse classifier (goal ``C(x') != r_org``), DFF on ``F^{r_org}`` (goal
``F^{r_org}(x') != f_org`` and ``C(x') = r_org``, as for every fine-level attack here).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from core.attacks.c2f import C2FLabels, check_level, fooled, label_record
from core.attacks.result import AttackResult
from core.attacks.layout import working_layout
from core.attacks.loop import Progress
from core.errors import InputError
from core.explain.locks import model_lock
from core.models.hierarchy import HierarchicalClassifier
from core.validate import check_images_for, check_model_outputs

CROSSING = 1e-4  # added to each step's distance, as in the DeepFool reference code
Forward = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, object]]
Goal = Callable[[torch.Tensor, torch.Tensor, object], torch.Tensor]


def candidate_classes(logits: torch.Tensor, y: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` highest-scoring classes other than ``y`` per image, and which of them exist (finite logit)."""
    masked = logits.scatter(1, y[:, None], float("-inf"))
    values, index = masked.topk(min(k, logits.shape[1] - 1), dim=1)
    return index, torch.isfinite(values)


def _evaluated(forward: Forward, x_rows: torch.Tensor, rows: torch.Tensor, graph: bool):
    """``(xa, logits, aux)`` at ``x_rows``; with ``graph`` the logits keep their graph back to ``xa``."""
    xa = x_rows.detach().requires_grad_(graph)
    with torch.set_grad_enabled(graph):
        logits, aux = forward(xa, rows)
    return xa, logits, aux


def _linearised(xa: torch.Tensor, logits: torch.Tensor, classes: torch.Tensor):
    """Per candidate k, ``f'_k = f_k - f_y`` (n, K), ``w_k = grad f'_k`` (n, K, C, H, W) and ``||w_k||_2``
    (n, K) for all rows from one forward pass (``logits`` with their graph to ``xa``): one backward pass
    per candidate over the whole batch."""
    f = logits.gather(1, classes[:, 1:]) - logits.gather(1, classes[:, :1])  # (n, K)
    k = f.shape[1]
    grads = [torch.autograd.grad(f[:, j].sum(), xa, retain_graph=j < k - 1)[0] for j in range(k)]
    pixels = tuple(range(1, xa.dim()))
    w_norm = torch.stack([torch.linalg.vector_norm(g, dim=pixels) for g in grads], dim=1)  # before stacking: faster
    return f.detach(), torch.stack(grads, dim=1), w_norm


def _closest_step(f: torch.Tensor, w: torch.Tensor, w_norm: torch.Tensor, valid: torch.Tensor,
                  crossing: float) -> torch.Tensor:
    """``r = (|f'_l| / ||w_l|| + crossing) w_l / ||w_l||`` for the nearest boundary ``l`` of each row."""
    w_norm = w_norm.clamp_min(1e-12)
    dist = (f.abs() / w_norm).masked_fill(~valid, float("inf"))
    closest = dist.argmin(1)
    pick = torch.arange(f.shape[0], device=f.device)
    scale = (dist[pick, closest] + crossing) / w_norm[pick, closest]
    return scale.view(-1, *([1] * (w.dim() - 2))) * w[pick, closest]


def check_deepfool_settings(steps: int, overshoot: float, candidates: int, crossing: float = CROSSING) -> None:
    if not (steps >= 0 and 0 <= overshoot < math.inf and candidates >= 1 and 0 <= crossing < math.inf):
        raise InputError(f"DeepFool needs steps >= 0, a finite overshoot >= 0, candidates >= 1 and a finite "
                         f"crossing >= 0; got steps={steps}, overshoot={overshoot}, candidates={candidates}, "
                         f"crossing={crossing}.")


def run_deepfool(forward: Forward, goal: Goal, x: torch.Tensor, y: torch.Tensor, *, steps: int, overshoot: float,
                 candidates: int, crossing: float, progress: Progress | None = None):
    """The loop; ``forward(x_rows, rows)`` gives (logits, aux) and ``goal(rows, logits, aux)`` success.
    Returns ``x_adv, success, iterations, params`` and the final pass's ``(logits, aux)`` at ``x_adv``."""
    check_deepfool_settings(steps, overshoot, candidates, crossing)
    x = x.detach()
    n = x.shape[0]
    all_rows = torch.arange(n, device=x.device)
    xa, logits, aux = _evaluated(forward, x, all_rows, graph=steps > 0)
    check_model_outputs((logits.isnan() | logits.isposinf()).flatten(1).any(1))  # -inf: a class not in play
    cand, valid = candidate_classes(logits.detach(), y, candidates)
    classes = torch.cat([y[:, None], cand], dim=1)
    r_tot = torch.zeros_like(x)
    x_adv = x.clone()
    iterations = torch.zeros(n, dtype=torch.long, device=x.device)
    rows = all_rows  # the images still moving; ``xa``, ``logits``, ``aux`` are theirs at the current iterate
    movable = valid.any(1)  # no other class to move to (a coarse class with one fine class): stay put
    for t in range(steps + 1):
        still = rows[~goal(rows, logits.detach(), aux) & movable[rows]]  # one synchronisation per step (on a GPU)
        if still.numel() == 0 or t == steps:
            break
        if still.numel() < rows.numel():  # the forward pass holds finished images: go again without them
            rows = still
            xa = logits = aux = None  # frees the old graph before the new one is built
            xa, logits, aux = _evaluated(forward, x_adv[rows], rows, graph=True)
        f, w, w_norm = _linearised(xa, logits, classes[rows])  # no gradients for finished images
        total = r_tot[rows] + _closest_step(f, w, w_norm, valid[rows], crossing)
        r_tot[rows] = total
        x_adv[rows] = (x[rows] + (1 + overshoot) * total).clamp(0.0, 1.0)
        iterations[rows] += 1
        # the check of the new iterate is also the forward pass of the next step (no graph after the last)
        xa, logits, aux = _evaluated(forward, x_adv[rows], rows, graph=t + 1 < steps)
        if progress is not None:
            progress((t + 1) / steps, f"step {t + 1}/{steps}")
    x_adv = x_adv.contiguous()  # in the usual layout, and judged so: agrees with a fresh forward pass
    with torch.no_grad():
        final = forward(x_adv, all_rows)
    params = {"steps": steps, "overshoot": overshoot, "candidates": int(cand.shape[1]), "crossing": crossing}
    return x_adv, goal(all_rows, *final), iterations, params, final


def deepfool(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, *, target=None, steps: int = 50,
             overshoot: float = 0.02, candidates: int = 10, crossing: float = CROSSING,
             progress: Progress | None = None) -> AttackResult:
    """Minimal l_2 perturbation across the nearest linearised decision boundary (goal: label changes)."""
    if target is not None:
        raise InputError("DeepFool is untargeted: it crosses the nearest boundary.")
    check_images_for(model, x)
    with model_lock(model):
        if y is None:
            with torch.no_grad():
                y = model(x).argmax(1)
        y = y.to(x.device)
        x_adv, success, iterations, params, _ = run_deepfool(
            lambda xa, rows: (model(xa), None), lambda rows, logits, aux: logits.argmax(1) != y[rows],
            working_layout(model, x), y, steps=steps, overshoot=overshoot, candidates=candidates, crossing=crossing,
            progress=progress)
    return AttackResult("DeepFool", x_adv, x_adv - x.detach(), success, iterations, params)


def deepfool_c2f(hc: HierarchicalClassifier, x: torch.Tensor, *, level: str = "coarse", steps: int = 50,
                 overshoot: float = 0.02, candidates: int = 10, crossing: float = CROSSING,
                 progress: Progress | None = None) -> AttackResult:
    """DFC (``level="coarse"``) or DFF (``level="fine"``) with the poster's goals (core.attacks.c2f)."""
    check_level(level)
    check_images_for(hc, x)
    with model_lock(hc):
        labels = C2FLabels.of(hc, x)

        def forward(xa, rows):
            coarse, fine = hc.logits(xa, labels.r_org[rows])
            return (coarse, fine) if level == "coarse" else (fine, coarse)

        def goal(rows, logits, aux):
            if level == "coarse":
                return fooled("coarse", labels, rows, logits)
            return fooled("fine", labels, rows, aux, logits)

        x_adv, success, iterations, params, (logits, aux) = run_deepfool(
            forward, goal, working_layout(hc, x, hc.logits), labels.original(level), steps=steps, overshoot=overshoot,
            candidates=candidates, crossing=crossing, progress=progress)
        record = label_record(labels, *((logits, aux) if level == "coarse" else (aux, logits)))  # no extra pass
    return AttackResult("DFC" if level == "coarse" else "DFF", x_adv, x_adv - x.detach(), success, iterations,
                        params | {"level": level}, record)
