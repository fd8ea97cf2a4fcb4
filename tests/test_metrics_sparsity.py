"""The GSE paper's sparsity and interpretability figures (core.metrics.sparsity) on hand-made masks."""
import math

import pytest
import torch

from core.errors import InputError
from core.metrics import sparsity as S


def perturbation(pixels, shape=(1, 3, 10, 10), channel=0, value=0.5):
    w = torch.zeros(shape)
    for i, j in pixels:
        w[0, channel, i, j] = value
    return w


def test_changed_pixels_collapse_channels():
    w = perturbation([(0, 0), (4, 4)])
    w[0, 2, 4, 4] = -0.1  # the same pixel in another channel counts once
    w[0, 1, 9, 9] = 1e-6
    assert S.changed_pixels(w).tolist() == [3]
    assert S.changed_fraction(w).tolist() == [pytest.approx(0.03)]
    both = torch.cat([w, torch.zeros_like(w)])
    assert S.acp(both, torch.tensor([True, False])) == pytest.approx(0.03)
    assert S.acp(both, torch.tensor([True, True])) == pytest.approx(0.015)
    assert math.isnan(S.acp(both, torch.tensor([False, False])))


def test_clusters_use_four_connectivity():
    # an L of 3 pixels, a diagonal pair (two clusters under 4-connectivity), a lone pixel at the corner
    w = perturbation([(1, 1), (2, 1), (2, 2), (5, 5), (6, 6), (9, 9)])
    assert S.clusters(w).tolist() == [4]
    ring = perturbation([(3, 3), (3, 4), (3, 5), (4, 3), (4, 5), (5, 3), (5, 4), (5, 5)])  # a ring: one cluster
    assert S.clusters(torch.cat([ring, torch.zeros_like(ring)])).tolist() == [1, 0]


def test_d20_counts_overlapping_patches_by_hand():
    # one pixel at (r, c) lies in every 8x8 window (stride 1) whose top-left is within 7 of it and inside
    w = perturbation([(0, 0)], shape=(1, 1, 10, 10))
    assert S.d20(w).tolist() == [1]  # only the window at (0, 0)
    w = perturbation([(5, 5)], shape=(1, 1, 10, 10))
    assert S.d20(w).tolist() == [9]  # top-left rows 0..2 x cols 0..2, all containing (5, 5)
    w = perturbation([(0, 0), (9, 9)], shape=(1, 1, 10, 10))
    assert S.d20(w).tolist() == [2]
    w = perturbation([(3, 4)], shape=(1, 2, 12, 12), channel=1)
    assert S.d20(w).tolist() == [4 * 5]  # rows 0..3, cols 0..4
    with pytest.raises(InputError, match="patch size"):
        S.d20(torch.zeros(1, 1, 5, 5))


def test_interpretability_score_by_hand():
    asm = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0]]).view(1, 1, 1, 5)
    # non-zero entries with a zero in front: [0, 1, 2, 3, 4]; P = 50 -> a[ceil(2.5)] = a[3] = 3
    assert S.saliency_percentile(asm, 50).tolist() == [3.0]
    w = torch.tensor([[3.0, 0.0, 0.0, 0.0, 4.0]]).view(1, 1, 1, 5)  # B = [0, 0, 0, 0, 1]
    assert S.interpretability_score(asm, w, 50).tolist() == [pytest.approx(4 / 5)]
    assert S.interpretability_score(asm, w, 0).tolist() == [pytest.approx(4 / 5)]  # nu = 0: B = [0, 1, 1, 1, 1]
    assert math.isnan(S.interpretability_score(asm, torch.zeros_like(w), 50).item())


def test_adversarial_saliency_of_a_linear_model():
    weights = torch.tensor([[1.0, -2.0, 3.0], [-1.0, -1.0, 2.0]])  # logits Z = W x
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3, 2, bias=False))
    model[1].weight.data = weights
    x = torch.rand(1, 1, 1, 3)
    asm = S.adversarial_saliency(model, x, torch.tensor([0]), torch.tensor([1]))
    # dZ_t = [-1, -1, 2], |dZ_l| = [1, 2, 3]; S: dZ_t >= 0 or dZ_l <= 0 -> entries 1 (dZ_l = -2) and 2
    assert asm.flatten().tolist() == [0.0, -2.0, 6.0]
    free = S.adversarial_saliency(model, x, torch.tensor([0]), torch.tensor([1]), restrict=False)
    assert free.flatten().tolist() == [-1.0, -2.0, 6.0]


def test_l2_and_asr():
    w = torch.zeros(2, 1, 2, 2)
    w[0, 0, 0, 0], w[0, 0, 1, 1] = 3.0, 4.0
    assert S.l2(w).tolist() == [5.0, 0.0]
    assert S.asr(torch.tensor([True, False, True, True])) == 0.75
    assert S.mean_over(torch.tensor([1.0, 5.0, 3.0]), torch.tensor([True, False, True])) == 2.0
