"""95 % intervals: the exact binomial interval by hand at its ends and against its definition, the
bootstrap's on data whose answer is known."""
import pytest
import torch
from scipy.stats import binom

from core.errors import InputError
from core.metrics.intervals import binomial_interval, bootstrap_interval


def test_binomial_interval_at_the_ends_by_hand():
    # k = 0: [0, 1 - (a/2)^(1/n)]; k = n: [(a/2)^(1/n), 1]
    assert binomial_interval(0, 10) == (0.0, pytest.approx(1 - 0.025 ** (1 / 10)))
    assert binomial_interval(10, 10) == (pytest.approx(0.025 ** (1 / 10)), 1.0)


@pytest.mark.parametrize("k, n", [(1, 6), (5, 10), (170, 220)])
def test_binomial_interval_ends_leave_2_5_percent_in_each_tail(k, n):
    low, high = binomial_interval(k, n)
    assert low < k / n < high
    assert binom.sf(k - 1, n, low) == pytest.approx(0.025)  # P(X >= k | p = low)
    assert binom.cdf(k, n, high) == pytest.approx(0.025)  # P(X <= k | p = high)


def test_bootstrap_interval_of_a_mean():
    assert bootstrap_interval(torch.full((7,), 0.25)) == (0.25, 0.25)  # no spread, no doubt
    assert bootstrap_interval(torch.tensor([])) is None
    values = torch.randn(2000, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3 + 1
    low, high = bootstrap_interval(values)
    half = 1.96 * float(values.std()) / 2000 ** 0.5  # the normal approximation, which n = 2000 reaches
    assert low == pytest.approx(float(values.mean()) - half, abs=0.2 * half)
    assert high == pytest.approx(float(values.mean()) + half, abs=0.2 * half)
    assert bootstrap_interval(values, seed=3) != (low, high) and bootstrap_interval(values) == (low, high)


def test_bad_settings_are_refused():
    with pytest.raises(InputError, match="in \\[0, 5\\]"):
        binomial_interval(6, 5)
    with pytest.raises(InputError, match="in \\(0, 1\\)"):
        bootstrap_interval(torch.ones(3), level=1.0)
