"""DCFE, the dense baseline of the S-CFE paper: Artelt & Hammer's density-constrained counterfactuals
("Convex density constraints for computing plausible counterfactual explanations", ICANN 2020) with a GMM
of the target class, for a network, as a penalty solved by the same APG (``apg``):

    min_y  L(y, t) + lambda (||y - x||^2 + mu max(delta_t - log q_GMM(y, t), 0))   s.t. y in A

delta_t is the ``quantile`` of the target class's training rows' GMM log-densities: the counterfactual must
be at least as likely as that share of them. Artelt & Hammer state the constraint per Gaussian component,
convex for linear models; for a network no solver keeps it convex, so it enters as an exact penalty of weight
``mu`` (our choice, written here). No sparsity term: g = I_A, whose prox is the box clamp. lambda is searched
as in S-CFE (with the penalty inside, as S-CFE's tau term; the step alpha / lambda likewise) and the valid
answer nearest in l2 kept.
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
from core.counterfactuals.densities import GMM
from core.errors import InputError
from core.validate import check_count, check_number


def dcfe(model: nn.Module, x: torch.Tensor, *, actionable: ActionableSet, density: GMM,
         target: torch.Tensor | None = None, lam: float = 1.0, mu: float = 0.01, quantile: float = 0.25,
         kappa: float = 0.1, alpha: float = 0.05, steps: int = 100, search_steps: int = 8,
         progress: Progress | None = None) -> AttackResult:
    """Dense, density-constrained counterfactuals of the rows ``x`` (N, D, data units)."""
    if not isinstance(density, GMM):
        raise InputError("DCFE needs a GMM density of the classes (core.counterfactuals.densities.GMM).")
    check_number("quantile", quantile, "in [0, 1]", lambda v: 0 <= v <= 1)
    for what, value in (("lambda", lam), ("alpha", alpha), ("mu", mu)):
        check_number(what, value, "positive", lambda v: v > 0)
    check_count("steps", steps, 1)
    check_count("search steps", search_steps, 1)
    f = Factual.of(model, x, actionable, target)
    q = density.bind(f.z, f.t)
    floor = torch.tensor([density.threshold(c, quantile) for c in f.t.tolist()], dtype=f.z.dtype, device=f.z.device)

    def smooth(w: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        near = w.pow(2).sum(1) + mu * (floor - q(f.z + w)).clamp_min(0)
        return margin_loss(f.logits(w), f.t, kappa) + weight * near

    problem = Problem(smooth, lambda w, a: proximal.project_box(w, f.lo, f.hi),
                      lambda w: torch.zeros(len(w), dtype=w.dtype, device=w.device))
    w, valid, weight = search(lambda weight: apg(problem, weight, f.z.shape, alpha=alpha / weight[:, None],
                                                 steps=steps, like=f.z),
                              f.valid, len(x), f.z, start=lam, steps=search_steps, progress=progress)
    params = {"lam": lam, "mu": mu, "quantile": quantile, "kappa": kappa, "alpha": alpha, "steps": steps,
              "search_steps": search_steps, "density": density.describe()}
    return f.result("DCFE", w, valid, weight, steps * search_steps, params)
