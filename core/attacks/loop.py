"""The projected gradient loop shared by PGD and the LRP attacks.

Each step moves every still-active input by ``alpha * d(g)``, with ``g`` the gradient of the
objective to *maximise*, then projects onto the attack's feasible set (``projection``: today the
l_inf ball of radius ``eps`` around ``x`` within [0, 1], ``budget.LinfBall``). Inputs may have any
shape (N, ...). Step rules ``d``: ``"sign"``, ``d(g) = sign(g)`` (Madry et al.'s PGD update, every pixel
moves by alpha), ``"scaled"``, ``d(g) = g / ||g||_inf`` (the most sensitive pixel moves by alpha,
the others in proportion, so perturbations concentrate where the gradient is large), or ``"l2"``,
``d(g) = sqrt(D) g / ||g||_2`` over the D entries of an input (the l2-normalised gradient step of l2 PGD,
scaled so that its l2 length is that of a sign step, alpha sqrt(D): our choice, so that one alpha serves
every rule; the projection on the l_inf ball follows as for the others).
With ``early_stop`` an image is frozen at the first iterate that meets its goal. The steps project
as torchattacks does (same iterates); the returned images are then moved by an ulp or so where
rounding left them past the budget (``projection.exact``), so ``|x_adv - x| <= eps`` holds exactly, and
their success is judged on them as returned (usual layout), so it agrees with a fresh forward pass of
the batch. A NaN or infinite objective at the first step is refused (``check_model_outputs``), and
so is an attack whose gradient was NaN or infinite at any step (``sign`` would have made it 0: the
image would silently stay put), once it has run.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from core.attacks.budget import Projection, check_step
from core.validate import check_choice, check_count, check_model_outputs

Progress = Callable[[float, str], None]
STEP_RULES = ("sign", "scaled", "l2")


@dataclass(frozen=True)
class StepOutcome:
    """What the objective reports at the current iterate of the rows it was given."""

    gain: torch.Tensor  # (n,) objective value to maximise, per image
    success: torch.Tensor  # (n,) bool: goal met at this iterate
    grad: torch.Tensor  # (n, ...) d gain / d x


class Objective(Protocol):
    def step(self, x_adv: torch.Tensor, rows: torch.Tensor) -> StepOutcome: ...

    def success(self, x_adv: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The goal met (n,) at ``x_adv``, and the model outputs it was judged on (e.g. logits, (n, K))."""
        ...


@dataclass(frozen=True)
class LoopOutput:
    x_adv: torch.Tensor
    success: torch.Tensor
    iterations: torch.Tensor
    gain: torch.Tensor  # (steps_run,) mean gain over the images updated at each step
    outputs: tuple[torch.Tensor, ...]  # the objective's outputs at x_adv (its success pass: no second one)


def direction(grad: torch.Tensor, rule: str) -> torch.Tensor:
    """The step direction of ``rule`` for a batch of gradients (see the module docstring)."""
    if rule == "sign":
        return grad.sign()
    flat = grad.flatten(1)
    if rule == "l2":
        return grad * per_row(flat.shape[1] ** 0.5 / flat.norm(dim=1).clamp_min(1e-12), grad)
    return grad / per_row(flat.abs().amax(1).clamp_min(1e-12), grad)


def per_row(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``values`` (n,) shaped to broadcast over the rows of ``like`` (n, ...), whatever its rank."""
    return values.view(-1, *([1] * (like.dim() - 1)))


def projected_ascent(x: torch.Tensor, objective: Objective, *, projection: Projection, alpha: float, steps: int,
                     start_random: bool = False, seed: int = 0, early_stop: bool = True, step_rule: str = "sign",
                     keep_success: bool = False, movable: torch.Tensor | None = None,
                     progress: Progress | None = None) -> LoopOutput:
    """Run the loop; returns the final iterates, their success, and step counts per input. A budget
    ``projection.eps`` of 0 leaves nothing to move: the inputs come back as they are.

    With ``keep_success`` an image whose final iterate misses its goal returns instead the last
    iterate that met it (when one did and it still does as returned), so running on after a
    success does not lose it. ``movable`` (N,) bool: the images that have a goal to move to (default:
    all); the others are returned unchanged and never reach the objective.
    """
    check_step(alpha)
    check_count("The number of steps", steps)
    check_choice("step rule", step_rule, STEP_RULES)
    x = x.detach()
    n = x.shape[0]
    moves = projection.eps > 0
    x_adv = projection.start(x, seed) if start_random and moves else x.clone()
    iterations = torch.zeros(n, dtype=torch.long, device=x.device)
    all_rows = torch.arange(n, device=x.device)
    rows = all_rows  # the images still moving; the same tensor while none stops (objectives may key on it)
    if movable is not None and not bool(movable.all()):  # one synchronisation per attack
        x_adv = torch.where(per_row(movable, x), x_adv, x)
        rows = all_rows[movable]
    met_at = torch.zeros(n, dtype=torch.bool, device=x.device) if keep_success else None
    last_met = x.clone() if keep_success else None
    broken = torch.zeros(n, dtype=torch.bool, device=x.device)  # a NaN or infinite gradient at some step
    gains = []
    for t in range(steps if moves else 0):
        if rows.numel() == 0:
            break
        every = rows is all_rows
        current = x_adv if every and not early_stop else x_adv[rows]  # no gather copy when every image moves
        outcome = objective.step(current, rows)
        if t == 0:  # once per attack
            check_model_outputs(~torch.isfinite(outcome.gain), rows)
        gains.append(outcome.gain.mean())
        broken[rows] |= ~torch.isfinite(outcome.grad).flatten(1).all(1)
        met = per_row(outcome.success, current)
        step = direction(outcome.grad, step_rule)
        if keep_success and every and not early_stop:
            met_at |= outcome.success
            last_met = torch.where(met, current, last_met)
        elif keep_success:
            met_at[rows] |= outcome.success
            last_met[rows] = torch.where(met, current, last_met[rows])
        if early_stop:  # images that met their goal stay put, and leave the loop
            moving = ~outcome.success
            x_adv[rows] = projection(x[rows], torch.add(current, step * per_row(moving, step), alpha=alpha))
            iterations[rows] += moving.long()
            still = rows[moving]
            rows = rows if still.numel() == rows.numel() else still
        elif every:
            x_adv = projection(x, torch.add(current, step, alpha=alpha))
            iterations += 1
        else:
            x_adv[rows] = projection(x[rows], torch.add(current, step, alpha=alpha))
            iterations[rows] += 1
        if progress is not None:
            progress((t + 1) / steps, f"step {t + 1}/{steps}")
    check_model_outputs(broken, what="The attack's gradient was NaN or infinite at some step",
                        advice=" The model's gradient may be undefined there (a square root at 0, say), or the "
                               "attack's settings exceed what the float type holds.")
    x_adv = projection.exact(x, x_adv).contiguous()  # in the usual layout, whatever x's
    success, outputs = objective.success(x_adv, all_rows)  # judged on the images as they are returned
    if keep_success:
        back = (met_at & ~success).nonzero().squeeze(1)  # one synchronisation per attack
        if back.numel():
            earlier = projection.exact(x[back], last_met[back]).contiguous()
            kept, earlier_outputs = objective.success(earlier, back)  # judged as returned; a miss keeps the last
            x_adv[back[kept]] = earlier[kept]
            success[back[kept]] = True
            for output, earlier_output in zip(outputs, earlier_outputs):
                output[back[kept]] = earlier_output[kept]
    gain = torch.stack(gains) if gains else torch.zeros(0, device=x.device)
    return LoopOutput(x_adv, success, iterations, gain, outputs)
