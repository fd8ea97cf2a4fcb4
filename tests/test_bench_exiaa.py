"""The eXIAA benchmark compares equal work: the grid and the naive loop give the same figures, and the grid
asks for the explanations its design says (each image and attack image once, the corrupted images in
batches), the naive loop for three calls per grid point."""
import math

import numpy as np
import pytest

from bench import bench_exiaa as bench
from core.studies import exiaa as study

CONFIG = study.StudyConfig(methods=("saliency",), alphas=(0.06, 0.15), top_ks=(0.05, 0.3, 0.8))


def test_the_grid_and_the_naive_loop_agree_and_the_grid_asks_far_fewer_explanations():
    args = (*bench._setup(2, "cpu"), CONFIG)
    ours, mine = bench.counts(bench.ours, *args)
    naive, theirs = bench.counts(bench.naive, *args)
    for key, values in naive.items():
        assert ours[key] == pytest.approx(values, rel=1e-6, abs=1e-9), key
    n, grid = 2, len(CONFIG.alphas) * len(CONFIG.top_ks)
    assert mine["explain_calls"] == n * (2 + math.ceil(2 * grid / study.BATCH_SIZE))
    assert mine["explain_inputs"] == n * (2 + 2 * grid)  # x and x̄ once, x̂ and x̃ at every point
    assert theirs["explain_calls"] == n * grid * 3 and theirs["explain_inputs"] == n * grid * 4
    assert mine["predict_inputs"] == bench.POOL_SIZE + n + n * 2 * grid  # the pool once
    assert theirs["predict_inputs"] >= n * grid * bench.POOL_SIZE  # the pool at every point
    assert np.all(ours["ours_change_pct"] > 0)
