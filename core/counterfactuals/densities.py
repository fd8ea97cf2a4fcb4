"""Density models q_hat(y, t) of each class, fitted on standardised training rows, evaluated in torch (so
that S-CFE's -tau q_hat term has a gradient), batched over rows of different target classes.

- ``KDE``: Gaussian kernel density, log q(y) = logsumexp_j(-||y - x_j||^2 / (2 h^2)) - log n - d/2 log(2 pi h^2),
  h chosen per class by 5-fold cross-validation of the held-out log-likelihood over ``bandwidths``
  (scikit-learn's GridSearchCV on KernelDensity; the S-CFE code's own grid search does the same).
- ``GMM``: scikit-learn's GaussianMixture per class (``components``, full covariances on tabular data, diagonal
  where rows are longer than ``FULL_UP_TO`` features, e.g. MNIST), log q(y) = logsumexp_k(log pi_k +
  log N(y; mu_k, Sigma_k)) from its Cholesky factors of the precisions.
- ``KNN``: the S-CFE code's k-NN "density gravity": for the factual x, g(x) = sum_j a_j x_j over its k nearest
  training rows x_j of the class, a_j proportional to x_j's local density k / sum of its distances to its own
  k nearest rows; q_hat(y) = -||y - g(x)||^2, the pull towards that dense spot.

``q_hat`` is the log-density (the S-CFE code's choice: a density far from the data would have no gradient).
Each model's ``bind(x, t)`` gives y -> q_hat(y, t) (N,) for the factual rows x (N, D) and targets t (N,).
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np
import torch

from core.errors import InputError

FULL_UP_TO = 64


def _per_class(x: torch.Tensor, y: torch.Tensor) -> dict[int, np.ndarray]:
    rows = {int(c): x[y == c].detach().cpu().double().numpy() for c in torch.unique(y)}
    small = [c for c, r in rows.items() if len(r) < 5]
    if small:
        raise InputError(f"Class(es) {small} have fewer than 5 training rows: too few to fit a density.")
    return rows


class _Density(ABC):
    """A target-class density: ``bind(x, t)`` gives q_hat(y, t) for rows y moving from x towards classes t."""

    name = ""

    @abstractmethod
    def bind(self, x: torch.Tensor, t: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """q(y) -> (N,): the density term of each row's target class."""

    @abstractmethod
    def describe(self) -> dict:
        """The fitted model's settings, for a result's record."""


class _ClassDensity(_Density):
    """A density with a log-density per class: q_hat(y, t) = log p(y | t)."""

    def bind(self, x: torch.Tensor, t: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        groups = [(c, (t == c).nonzero().squeeze(1)) for c in torch.unique(t).tolist()]

        def q(y: torch.Tensor) -> torch.Tensor:
            out = torch.zeros(len(y), dtype=y.dtype, device=y.device)
            for c, rows in groups:
                out = out.index_put((rows,), self.log_density(y[rows], c))
            return out
        return q

    @abstractmethod
    def log_density(self, y: torch.Tensor, c: int) -> torch.Tensor:
        """log q_hat(y | c) of rows ``y`` under class ``c``'s density."""


class KDE(_ClassDensity):
    name = "kde"

    def __init__(self, x: torch.Tensor, y: torch.Tensor,
                 bandwidths: tuple[float, ...] = tuple(np.logspace(-1.5, 1, 26)), folds: int = 5):
        from sklearn.model_selection import GridSearchCV
        from sklearn.neighbors import KernelDensity

        self.points, self.bandwidth = {}, {}
        for c, rows in _per_class(x, y).items():
            grid = GridSearchCV(KernelDensity(kernel="gaussian"), {"bandwidth": list(bandwidths)},
                                cv=min(folds, len(rows)))
            grid.fit(rows)
            self.bandwidth[c] = float(grid.best_params_["bandwidth"])
            self.points[c] = torch.as_tensor(rows, dtype=x.dtype, device=x.device)

    def log_density(self, y: torch.Tensor, c: int) -> torch.Tensor:
        points, h = self.points[c], self.bandwidth[c]
        d = y.shape[1]
        squared = torch.cdist(y, points).pow(2)
        return (torch.logsumexp(-squared / (2 * h * h), dim=1) - math.log(len(points))
                - d / 2 * math.log(2 * math.pi * h * h))

    def describe(self) -> dict:
        return {"density": "kde", "bandwidth": self.bandwidth}


class GMM(_ClassDensity):
    name = "gmm"

    def __init__(self, x: torch.Tensor, y: torch.Tensor, components: int = 3, seed: int = 0):
        from sklearn.mixture import GaussianMixture

        self.components, self.params, self.train_log_density = components, {}, {}
        for c, rows in _per_class(x, y).items():
            kind = "full" if rows.shape[1] <= FULL_UP_TO else "diag"
            gmm = GaussianMixture(min(components, len(rows) // 2), covariance_type=kind, random_state=seed,
                                  reg_covar=1e-3).fit(rows)
            as_t = lambda a: torch.as_tensor(a, dtype=x.dtype, device=x.device)  # noqa: E731
            self.params[c] = (kind, as_t(np.log(gmm.weights_)), as_t(gmm.means_), as_t(gmm.precisions_cholesky_))
            self.train_log_density[c] = gmm.score_samples(rows)  # for DCFE's threshold

    def threshold(self, c: int, quantile: float) -> float:
        """The ``quantile`` of class c's training rows' log-densities (DCFE's density threshold)."""
        return float(np.quantile(self.train_log_density[c], quantile))

    def log_density(self, y: torch.Tensor, c: int) -> torch.Tensor:
        kind, log_pi, mu, chol = self.params[c]
        diff = y[:, None, :] - mu[None]  # (N, K, D)
        if kind == "full":
            u = torch.einsum("nkd,kde->nke", diff, chol)
            log_det = torch.diagonal(chol, dim1=1, dim2=2).log().sum(1)
        else:
            u = diff * chol[None]
            log_det = chol.log().sum(1)
        d = y.shape[1]
        log_normal = -0.5 * (d * math.log(2 * math.pi) + u.pow(2).sum(2)) + log_det[None]
        return torch.logsumexp(log_pi[None] + log_normal, dim=1)

    def describe(self) -> dict:
        return {"density": "gmm", "components": self.components}


class KNN(_Density):
    name = "knn"

    def __init__(self, x: torch.Tensor, y: torch.Tensor, k: int = 5):
        self.k, self.points, self.local = k, {}, {}
        for c, rows in _per_class(x, y).items():
            points = torch.as_tensor(rows, dtype=x.dtype, device=x.device)
            distances = torch.cdist(points, points).topk(min(k + 1, len(points)), largest=False).values[:, 1:]
            self.points[c], self.local[c] = points, distances.shape[1] / distances.sum(1).clamp_min(1e-12)

    def centre(self, x: torch.Tensor, c: int) -> torch.Tensor:
        """g(x): the local-density-weighted mean of x's k nearest training rows of class c."""
        points, local = self.points[c], self.local[c]
        near = torch.cdist(x, points).topk(min(self.k, len(points)), largest=False).indices  # (N, k)
        a = local[near] / local[near].sum(1, keepdim=True)
        return (points[near] * a[..., None]).sum(1)

    def bind(self, x: torch.Tensor, t: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        g = torch.zeros_like(x)
        for c in torch.unique(t).tolist():
            rows = t == c
            g[rows] = self.centre(x[rows], c)

        def q(y: torch.Tensor) -> torch.Tensor:
            return -(y - g).pow(2).sum(1)
        return q

    def describe(self) -> dict:
        return {"density": "knn", "k": self.k}


DENSITIES = {"kde": KDE, "gmm": GMM, "knn": KNN}
