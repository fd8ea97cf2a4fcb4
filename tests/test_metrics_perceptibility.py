"""rho_p and the fooling ratio on hand-computed values."""
import math

import pytest
import torch

from core.errors import InputError
from core.metrics import fooling_ratio, mean_perceptibility, perceptibility


def test_perceptibility_matches_hand_computation():
    x = torch.tensor([[[[0.5, 0.5], [0.5, 0.5]]], [[[1.0, 0.0], [0.0, 0.0]]]])  # (2, 1, 2, 2)
    delta = torch.tensor([[[[0.1, -0.1], [0.0, 0.0]]], [[[0.0, 0.0], [0.0, 0.2]]]])
    # image 1: ||d||_1 = 0.2, ||x||_1 = 2 -> 0.1; ||d||_2 = sqrt(.02), ||x||_2 = 1 -> 0.1414; inf: 0.1/0.5
    # image 2: 0.2 / 1, 0.2 / 1, 0.2 / 1
    expected = {1: [0.1, 0.2], 2: [math.sqrt(0.02), 0.2], float("inf"): [0.2, 0.2]}
    for p, values in expected.items():  # float32 inputs, float64 sums: agree to float32's own rounding
        torch.testing.assert_close(perceptibility(delta, x, p), torch.tensor(values, dtype=torch.float64))
    assert mean_perceptibility(delta, x, 1) == pytest.approx(0.15)
    assert mean_perceptibility(delta, x, 1, over=torch.tensor([False, True])) == pytest.approx(0.2)
    assert mean_perceptibility(delta, x, 1, over=torch.tensor([False, False])) is None


def test_norms_of_a_full_size_image_are_summed_in_float64():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 224, 224, generator=g)
    delta = (torch.rand(2, 3, 224, 224, generator=g) - 0.5) * (8 / 255)
    for p in (1.0, 2.0):
        exact = [float(torch.linalg.vector_norm(d.double().flatten(), p)
                       / torch.linalg.vector_norm(i.double().flatten(), p))
                 for d, i in zip(delta, x)]  # the float32 sum is off in the sixth digit or worse
        assert perceptibility(delta, x, p).tolist() == pytest.approx(exact, rel=1e-12)


def test_fooling_ratio_and_bad_inputs():
    assert fooling_ratio(torch.tensor([True, False, True, True])) == 0.75
    assert fooling_ratio(torch.tensor([True] * 5 + [False])) == 5 / 6  # exactly, as 83.333... percent
    with pytest.raises(InputError):
        fooling_ratio(torch.tensor([], dtype=torch.bool))
    with pytest.raises(InputError, match="black"):
        perceptibility(torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), 2)
