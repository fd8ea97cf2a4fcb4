"""The figures of the S-CFE paper's Table 3 and Figure 6, one function each, on counterfactuals ``y`` of
factual rows ``x`` (N, D) in the standardised space of ``ActionableSet.to_z`` (pixels for MNIST):

- ``validity``: the share of rows whose counterfactual the model puts in the target class (Table 3, in %).
- ``l2``: ||y - x||_2 per row (proximity); ``l0``: ||y - x||_0 per row, features changed (sparsity).
- ``lof``: the local outlier factor of y (Breunig et al. 2000) among the target class's training rows,
  scikit-learn's LocalOutlierFactor(novelty=True) fitted on them: LOF(y) = mean over y's k nearest rows o of
  lrd(o) / lrd(y), lrd(p) = 1 / mean_o reach-dist_k(p, o), reach-dist_k(p, o) = max(k-distance(o), d(p, o));
  about 1 inside the class's data, larger outside (plausibility).
- ``robustness``: Figure 6's pairs: for factual rows x and perturbed copies x', ||x' - x||_2 against the
  distance of their counterfactuals ||y' - y||_2.
"""
from __future__ import annotations

import numpy as np
import torch


def validity(success: torch.Tensor) -> float:
    """100 * (valid rows) / (rows)."""
    return 100.0 * float(success.float().mean())


def l2(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (y - x).flatten(1).norm(dim=1)


def l0(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (y != x).flatten(1).sum(1)


class LOF:
    """LocalOutlierFactor(n_neighbors, novelty=True) per class, fitted on that class's training rows."""

    def __init__(self, x_train: torch.Tensor, y_train: torch.Tensor, n_neighbors: int = 20):
        from sklearn.neighbors import LocalOutlierFactor

        self.n_neighbors = n_neighbors
        self.models = {int(c): LocalOutlierFactor(n_neighbors=min(n_neighbors, int((y_train == c).sum()) - 1),
                                                  novelty=True).fit(x_train[y_train == c].cpu().double().numpy())
                       for c in torch.unique(y_train)}

    def __call__(self, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """LOF of each row of ``y`` among its target class's training rows (N,)."""
        out = np.zeros(len(y))
        rows = y.detach().flatten(1).cpu().double().numpy()
        t = target.cpu().numpy()
        for c in np.unique(t):
            out[t == c] = -self.models[int(c)].score_samples(rows[t == c])
        return torch.from_numpy(out)


def robustness(x: torch.Tensor, x_perturbed: torch.Tensor, y: torch.Tensor,
               y_perturbed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Figure 6's pairs: (||x' - x||_2, ||y' - y||_2) per row."""
    return l2(x, x_perturbed), l2(y, y_perturbed)
