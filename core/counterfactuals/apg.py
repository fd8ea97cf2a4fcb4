"""The solver every counterfactual method shares: accelerated proximal gradient on perturbations w (N, D),
batched over rows, and the per-row search of the weight that trades validity against proximity.

``apg`` minimises F(w) = f(w) + g(w), f smooth (its gradient by autograd, per row), g with a cheap prox:

- ``safeguard=True``: Li & Lin's monotone APG for non-convex problems (NeurIPS 2015, Alg. 1), as the
  S-CFE paper asks (its lemma on convergence to a critical point of eq. 4 rests on it):
      y_k     = x_k + t_{k-1}/t_k (z_k - x_k) + (t_{k-1} - 1)/t_k (x_k - x_{k-1})
      z_{k+1} = prox_{alpha g}(y_k - alpha grad f(y_k))
      v_{k+1} = prox_{alpha g}(x_k - alpha grad f(x_k))
      t_{k+1} = (sqrt(4 t_k^2 + 1) + 1) / 2
      x_{k+1} = z_{k+1} if F(z_{k+1}) <= F(v_{k+1}) else v_{k+1}
  with the test of their Alg. 2 to save v's gradient: a row whose z_{k+1} already gives
  F(z_{k+1}) <= F(x_k) - delta ||z_{k+1} - y_k||^2 takes z_{k+1} (v is computed only when some row fails).
  F(x_k) never increases.
- ``safeguard=False``: plain FISTA (Beck & Teboulle 2009; CEM's solver): x_{k+1} = z_{k+1},
  y_{k+1} = x_{k+1} + (t_k - 1)/t_{k+1} (x_{k+1} - x_k).

The step alpha is fixed (the S-CFE code decays its step; a fixed alpha below 1/L is what both papers'
analyses assume); ``decay=True`` uses alpha_k = alpha sqrt(1 - k/K) instead, CEM's polynomial decay.

``search`` runs a solve per weight and row: the weight that multiplies the proximity (S-CFE's lambda) grows
after a valid answer and shrinks after an invalid one, by 10 until both a valid and an invalid weight are
known, then by geometric bisection; a class-loss weight (CEM's c) moves the other way. Choice rule: of all
valid answers a row had over the search, the one nearest the factual in l2; a row with none keeps w = 0
(the factual, reported invalid), as the S-CFE code does.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from core.attacks.loop import Progress

Smooth = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # f(w, weight) per row (N,)
Prox = Callable[[torch.Tensor, float], torch.Tensor]  # prox_{alpha g}(w)
Penalty = Callable[[torch.Tensor], torch.Tensor]  # g(w) per row (N,), finite on prox outputs


@dataclass(frozen=True)
class Problem:
    """F(w) = smooth(w, weight) + penalty(w), with ``prox`` the prox of alpha * penalty (and A's indicator)."""

    smooth: Smooth
    prox: Prox
    penalty: Penalty


def _value_grad(problem: Problem, w: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.enable_grad():
        w = w.detach().requires_grad_(True)
        f = problem.smooth(w, weight)
        (grad,) = torch.autograd.grad(f.sum(), w)
    return f.detach(), grad


def _objective(problem: Problem, w: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return problem.smooth(w, weight) + problem.penalty(w)


def apg(problem: Problem, weight: torch.Tensor, shape: torch.Size, *, alpha: float | torch.Tensor, steps: int,
        safeguard: bool = True, delta: float = 1e-4, decay: bool = False,
        like: torch.Tensor | None = None) -> torch.Tensor:
    """The perturbations w (N, D) after ``steps`` iterations from w = 0 (see the module's text)."""
    x_now = torch.zeros(shape, dtype=like.dtype, device=like.device)
    x_old, z, t_old, t = x_now, x_now, 0.0, 1.0
    f_now = _objective(problem, x_now, weight)
    for k in range(steps):
        step = alpha * math.sqrt(1 - k / steps) if decay else alpha
        y = x_now + (t_old / t) * (z - x_now) + ((t_old - 1) / t) * (x_now - x_old) if safeguard else z
        _, grad = _value_grad(problem, y, weight)
        z_new = problem.prox(y - step * grad, step)
        t_old, t = t, (math.sqrt(4 * t * t + 1) + 1) / 2
        if not safeguard:
            x_old, x_now = x_now, z_new
            z = x_now + ((t_old - 1) / t) * (x_now - x_old)  # FISTA's extrapolated point, used as y next
            continue
        f_z = _objective(problem, z_new, weight)
        chosen, f_new = z_new, f_z
        enough = f_z <= f_now - delta * (z_new - y).pow(2).sum(1)
        if not bool(enough.all()):
            _, grad_x = _value_grad(problem, x_now, weight)
            v = problem.prox(x_now - step * grad_x, step)
            f_v = _objective(problem, v, weight)
            take_z = enough | (f_z <= f_v)
            chosen = torch.where(take_z[:, None], z_new, v)
            f_new = torch.where(take_z, f_z, f_v)
        x_old, x_now, z, f_now = x_now, chosen, z_new, f_new
    return x_now


def search(solve: Callable[[torch.Tensor], torch.Tensor], valid: Callable[[torch.Tensor], torch.Tensor],
           n: int, like: torch.Tensor, *, start: float, steps: int, grow_when_valid: bool = True,
           progress: Progress | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(best w (N, D), valid (N,), the weight that gave it (N,)) over ``steps`` solves (module text)."""
    sign = 1.0 if grow_when_valid else -1.0
    u = torch.full((n,), sign * math.log(start), dtype=like.dtype, device=like.device)  # sign * log(weight)
    good = torch.full_like(u, -math.inf)  # largest u that gave a valid answer
    bad = torch.full_like(u, math.inf)  # smallest u that gave an invalid one
    best_w, best_d = None, torch.full_like(u, math.inf)
    best_weight = torch.full_like(u, math.nan)
    for s in range(steps):
        weight = torch.exp(sign * u)
        w = solve(weight)
        ok = valid(w)
        d = w.norm(dim=1)
        better = ok & (d < best_d)
        best_w = torch.zeros_like(w) if best_w is None else best_w
        best_w = torch.where(better[:, None], w, best_w)
        best_d = torch.where(better, d, best_d)
        best_weight = torch.where(better, weight, best_weight)
        good = torch.where(ok, torch.maximum(good, u), good)
        bad = torch.where(ok, bad, torch.minimum(bad, u))
        both = torch.isfinite(good) & torch.isfinite(bad)
        u = torch.where(both, (good + bad) / 2, torch.where(ok, u + math.log(10), u - math.log(10)))
        if progress is not None:
            progress((s + 1) / steps, f"search step {s + 1}/{steps}: {int(ok.sum())}/{n} valid")
    return best_w, torch.isfinite(best_d), best_weight
