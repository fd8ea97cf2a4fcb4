"""S-CFE (Sadiku, Wagner, Nagarajan & Pokutta, AISTATS 2025): sparse, plausible counterfactuals by accelerated
proximal gradient on the standardised rows y (``apg``, Li & Lin's safeguards), with

    h(y) = L(y, t) + lambda (||y - x||^2 - tau q_hat(y, t))                    (smooth part)
    g(y) = I_A(y) + beta ||y - x||_0                                            (eq. 3, ``m=None``)
    g(y) = I_A(y) + I_{||y - x||_0 <= m}(y)                                     (eq. 4, ``m`` given)

L the margin loss on logits (``base.margin_loss``, kappa its margin), q_hat a class density (``densities``:
KDE, GMM, k-NN gravity; none: tau = 0), A the actionable box with locks and one-sided bounds. eq. 3's prox
is the clipped hard threshold, eq. 4's the closed-form projection (``proximal``). lambda is searched per
row (``apg.search``: grows after a valid answer); the answer kept is the valid one nearest in l2.

Two choices where the talk is silent, as the S-CFE code does them: lambda multiplies the plausibility term
too (the talk's tau is lambda * tau here: the code weighs L by 1/lambda against both terms), and the step is
alpha / lambda (the code's fixed step on c L + ||w||^2 with c = 1/lambda); without them a small lambda left
the density's pull as strong as the class loss and rows stayed invalid.
"""
from __future__ import annotations

import torch
from torch import nn

from core.attacks.loop import Progress
from core.attacks.result import AttackResult
from core.counterfactuals import proximal
from core.counterfactuals.actionable import ActionableSet
from core.counterfactuals.apg import Problem, apg, search
from core.counterfactuals.base import Factual, margin_loss
from core.validate import check_count, check_number


def scfe(model: nn.Module, x: torch.Tensor, *, actionable: ActionableSet, target: torch.Tensor | None = None,
         density=None, m: int | None = 2, beta: float = 0.01, lam: float = 1.0, tau: float = 0.1,
         kappa: float = 0.1, alpha: float = 0.05, steps: int = 100, search_steps: int = 8,
         progress: Progress | None = None) -> AttackResult:
    """Counterfactuals of the rows ``x`` (N, D, data units) for ``target`` (default: ``default_target``)."""
    if m is not None:
        check_count("m (features a counterfactual may change)", m, 1)
    for what, value in (("beta", beta), ("tau", tau), ("kappa", kappa)):
        check_number(what, value, "at least 0", lambda v: v >= 0)
    for what, value in (("lambda", lam), ("alpha", alpha)):
        check_number(what, value, "positive", lambda v: v > 0)
    check_count("steps", steps, 1)
    check_count("search steps", search_steps, 1)
    f = Factual.of(model, x, actionable, target)
    q = density.bind(f.z, f.t) if density is not None and tau > 0 else None

    def smooth(w: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        near = w.pow(2).sum(1) if q is None else w.pow(2).sum(1) - tau * q(f.z + w)
        return margin_loss(f.logits(w), f.t, kappa) + weight * near

    if m is None:
        problem = Problem(smooth, lambda w, a: proximal.hard_threshold(w, f.lo, f.hi, a, beta),
                          lambda w: beta * (w != 0).sum(1).to(w.dtype))
    else:
        problem = Problem(smooth, lambda w, a: proximal.project_sparse_box(w, f.lo, f.hi, m),
                          lambda w: torch.zeros(len(w), dtype=w.dtype, device=w.device))
    w, valid, weight = search(lambda weight: apg(problem, weight, f.z.shape, alpha=alpha / weight[:, None],
                                                 steps=steps, like=f.z),
                              f.valid, len(x), f.z, start=lam, steps=search_steps, progress=progress)
    params = {"m": m, "beta": beta, "lam": lam, "tau": tau, "kappa": kappa, "alpha": alpha, "steps": steps,
              "search_steps": search_steps, "density": None if density is None else density.describe()}
    return f.result("S-CFE", w, valid, weight, steps * search_steps, params)
