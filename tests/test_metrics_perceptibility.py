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
    torch.testing.assert_close(perceptibility(delta, x, 1), torch.tensor([0.1, 0.2]))
    torch.testing.assert_close(perceptibility(delta, x, 2), torch.tensor([math.sqrt(0.02), 0.2]))
    torch.testing.assert_close(perceptibility(delta, x, float("inf")), torch.tensor([0.2, 0.2]))
    assert mean_perceptibility(delta, x, 1) == pytest.approx(0.15)
    assert mean_perceptibility(delta, x, 1, over=torch.tensor([False, True])) == pytest.approx(0.2)
    assert mean_perceptibility(delta, x, 1, over=torch.tensor([False, False])) is None


def test_fooling_ratio_and_bad_inputs():
    assert fooling_ratio(torch.tensor([True, False, True, True])) == 0.75
    with pytest.raises(InputError):
        fooling_ratio(torch.tensor([], dtype=torch.bool))
    with pytest.raises(InputError, match="black"):
        perceptibility(torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), 2)
