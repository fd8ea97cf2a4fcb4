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
from collections.abc import Callable

import torch
from torch import nn

from core.attacks.c2f import C2FLabels, check_level, label_record
from core.attacks.goals import Goal, Misclassified
from core.attacks.layout import working_layout
from core.attacks.loop import Progress
from core.attacks.result import AttackResult
from core.errors import InputError
from core.models.hierarchy import HierarchicalClassifier
from core.models.locks import model_lock
from core.validate import check_count, check_images_for, check_labels, check_model_outputs, check_number

CROSSING = 1e-4  # added to each step's distance, as in the DeepFool reference code
Forward = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, ...]]  # (x_rows, rows) -> model outputs


def candidate_classes(logits: torch.Tensor, y: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` highest-scoring classes other than ``y`` per image, and which of them exist (finite logit)."""
    masked = logits.scatter(1, y[:, None], float("-inf"))
    values, index = masked.topk(min(k, logits.shape[1] - 1), dim=1)
    return index, torch.isfinite(values)


def _evaluated(forward: Forward, x_rows: torch.Tensor, rows: torch.Tensor, graph: bool):
    """``(xa, outputs)`` at ``x_rows``; with ``graph`` the outputs keep their graph back to ``xa``."""
    xa = x_rows.detach().requires_grad_(graph)
    with torch.set_grad_enabled(graph):
        return xa, forward(xa, rows)


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
    check_count("DeepFool's steps", steps)
    check_count("DeepFool's candidates", candidates, 1)
    for what, value in (("overshoot", overshoot), ("crossing", crossing)):
        check_number(f"DeepFool's {what}", value, "finite and >= 0", lambda v: 0 <= v < math.inf)


def run_deepfool(forward: Forward, goal: Goal | None, x: torch.Tensor, y: torch.Tensor | None, *, steps: int,
                 overshoot: float, candidates: int, crossing: float, head: int = 0,
                 progress: Progress | None = None):
    """The loop; ``forward(x_rows, rows)`` gives the model outputs, ``goal(rows, *outputs)`` success (None:
    ``Misclassified(y)``) and ``outputs[head]`` the logits to linearise, of which ``y`` holds the original
    classes (None: the decisions at ``x``). Returns ``x_adv, success, iterations, params`` and the final
    pass's outputs."""
    check_deepfool_settings(steps, overshoot, candidates, crossing)
    x = x.detach()
    n = x.shape[0]
    all_rows = torch.arange(n, device=x.device)
    xa, outputs = _evaluated(forward, x, all_rows, graph=steps > 0)
    logits = outputs[head]
    check_model_outputs((logits.isnan() | logits.isposinf()).flatten(1).any(1))  # -inf: a class not in play
    y = logits.detach().argmax(1) if y is None else check_labels("labels y", y, n, logits.shape[1]).to(x.device)
    goal = Misclassified(y) if goal is None else goal
    cand, valid = candidate_classes(logits.detach(), y, candidates)
    classes = torch.cat([y[:, None], cand], dim=1)
    r_tot = torch.zeros_like(x)
    x_adv = x.clone()
    iterations = torch.zeros(n, dtype=torch.long, device=x.device)
    rows = all_rows  # the images still moving; ``xa`` and ``outputs`` are theirs at the current iterate
    movable = valid.any(1)  # no other class to move to (a coarse class with one fine class): stay put
    for t in range(steps + 1):
        still = rows[~goal(rows, *(o.detach() for o in outputs)) & movable[rows]]  # one sync per step (on a GPU)
        if still.numel() == 0 or t == steps:
            break
        if still.numel() < rows.numel():  # the forward pass holds finished images: go again without them
            rows = still
            xa = outputs = None  # frees the old graph before the new one is built
            xa, outputs = _evaluated(forward, x_adv[rows], rows, graph=True)
        f, w, w_norm = _linearised(xa, outputs[head], classes[rows])  # no gradients for finished images
        total = r_tot[rows] + _closest_step(f, w, w_norm, valid[rows], crossing)
        r_tot[rows] = total
        x_adv[rows] = (x[rows] + (1 + overshoot) * total).clamp(0.0, 1.0)
        iterations[rows] += 1
        # the check of the new iterate is also the forward pass of the next step (no graph after the last)
        xa, outputs = _evaluated(forward, x_adv[rows], rows, graph=t + 1 < steps)
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
    """Minimal l_2 perturbation across the nearest linearised decision boundary (goal: the label ``y``,
    one class index per image, changes; by default the model's decision at ``x``)."""
    if target is not None:
        raise InputError("DeepFool is untargeted: it crosses the nearest boundary.")
    check_images_for(model, x)
    with model_lock(model):
        x_adv, success, iterations, params, _ = run_deepfool(
            lambda xa, rows: (model(xa),), None, working_layout(model, x), y, steps=steps, overshoot=overshoot,
            candidates=candidates, crossing=crossing, progress=progress)
    return AttackResult("DeepFool", x_adv, x_adv - x.detach(), success, iterations, params)


def deepfool_c2f(hc: HierarchicalClassifier, x: torch.Tensor, *, level: str = "coarse", steps: int = 50,
                 overshoot: float = 0.02, candidates: int = 10, crossing: float = CROSSING,
                 progress: Progress | None = None) -> AttackResult:
    """DFC (``level="coarse"``) or DFF (``level="fine"``) with the poster's goals (core.attacks.c2f)."""
    check_level(level)
    check_images_for(hc, x)
    with model_lock(hc):
        labels = C2FLabels.of(hc, x)
        x_adv, success, iterations, params, outputs = run_deepfool(
            lambda xa, rows: hc.logits(xa, labels.r_org[rows]), labels.goal(level), working_layout(hc, x, hc.logits),
            labels.original(level), steps=steps, overshoot=overshoot, candidates=candidates, crossing=crossing,
            head=0 if level == "coarse" else 1, progress=progress)
        record = label_record(labels, *outputs)  # from the pass that judged success: no extra pass
    return AttackResult("DFC" if level == "coarse" else "DFF", x_adv, x_adv - x.detach(), success, iterations,
                        params | {"level": level}, record)
