"""How sure a figure on a sample is: 95 % intervals for a ratio and for a mean.

- ``binomial_interval(k, n)``: the Clopper-Pearson (exact) interval of a proportion from k successes in
  n trials, ``[B(a/2; k, n - k + 1), B(1 - a/2; k + 1, n - k)]`` with B the beta distribution's quantiles
  (0 and 1 at the ends k = 0 and k = n), for fooling ratios.
- ``bootstrap_interval(values)``: the percentile bootstrap of a mean: ``resamples`` means of n values
  drawn with replacement (seeded), their a/2 and 1 - a/2 quantiles, for mean perceptibilities.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.stats import beta

from core.validate import check_count, check_number

LEVEL = 0.95
RESAMPLES = 2000


def _check_level(level: float) -> None:
    check_number("The level", level, "in (0, 1)", lambda v: 0 < v < 1)


def binomial_interval(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval of the proportion k / n, as fractions."""
    check_count("The number of trials", n, 1)
    check_number("The number of successes", k, f"in [0, {n}]", lambda v: 0 <= v <= n)
    _check_level(level)
    tail = (1 - level) / 2
    low = 0.0 if k == 0 else float(beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - tail, k + 1, n - k))
    return low, high


def bootstrap_interval(values: torch.Tensor, level: float = LEVEL, resamples: int = RESAMPLES,
                       seed: int = 0) -> tuple[float, float] | None:
    """The percentile-bootstrap interval of the mean of ``values`` (n,), None where there are none."""
    _check_level(level)
    check_count("The number of resamples", resamples, 1)
    data = values.detach().double().cpu().numpy()
    if data.size == 0:
        return None
    draws = np.random.default_rng(seed).integers(0, data.size, size=(resamples, data.size))
    means = data[draws].mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))
