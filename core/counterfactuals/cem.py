"""CEM's pertinent negatives (Dhurandhar et al., NeurIPS 2018), targeted: FISTA (``apg`` with
``safeguard=False``, the step decaying as alpha sqrt(1 - k/K) as in CEM's code) on

    min_delta  c f_kappa(x + delta) + beta ||delta||_1 + ||delta||_2^2 + gamma ||x + delta - AE(x + delta)||_2^2
    s.t. x + delta in A

f_kappa = max(max_{i != t} Z_i - Z_t, -kappa) (the margin loss less kappa), the elastic-net prox the soft
threshold then the box; the autoencoder term only with an ``autoencoder`` (a module on the standardised rows)
and ``gamma > 0``. c is searched per row (CEM: 9 bisection steps from c = 10; it shrinks after a valid answer)
and the valid answer nearest in l2 kept (CEM keeps the one of least elastic-net loss; l2 here, the rule
every method of the study shares).
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


def cem(model: nn.Module, x: torch.Tensor, *, actionable: ActionableSet, target: torch.Tensor | None = None,
        c: float = 10.0, beta: float = 1.0, kappa: float = 0.1, gamma: float = 0.0,
        autoencoder: nn.Module | None = None, alpha: float = 0.01, steps: int = 100, search_steps: int = 9,
        progress: Progress | None = None) -> AttackResult:
    """Pertinent negatives of the rows ``x`` (N, D, data units) for ``target``."""
    for what, value in (("beta", beta), ("kappa", kappa), ("gamma", gamma)):
        check_number(what, value, "at least 0", lambda v: v >= 0)
    for what, value in (("c", c), ("alpha", alpha)):
        check_number(what, value, "positive", lambda v: v > 0)
    check_count("steps", steps, 1)
    check_count("search steps", search_steps, 1)
    f = Factual.of(model, x, actionable, target)

    def smooth(w: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        out = weight * margin_loss(f.logits(w), f.t, kappa) + w.pow(2).sum(1)
        if autoencoder is not None and gamma > 0:
            y = f.z + w
            out = out + gamma * (y - autoencoder(y)).pow(2).sum(1)
        return out

    problem = Problem(smooth, lambda w, a: proximal.soft_threshold_box(w, f.lo, f.hi, a, beta),
                      lambda w: beta * w.abs().sum(1))
    w, valid, weight = search(lambda weight: apg(problem, weight, f.z.shape, alpha=alpha, steps=steps,
                                                 safeguard=False, decay=True, like=f.z),
                              f.valid, len(x), f.z, start=c, steps=search_steps, grow_when_valid=False,
                              progress=progress)
    params = {"c": c, "beta": beta, "kappa": kappa, "gamma": gamma if autoencoder is not None else 0.0,
              "alpha": alpha, "steps": steps, "search_steps": search_steps}
    return f.result("CEM", w, valid, weight, steps * search_steps, params)
