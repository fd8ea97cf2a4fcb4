"""The eXIAA figures on hand-computed values: explanation change %, SSIM, confidence change, class change,
queries per attack."""
import pytest
import torch

from core.errors import InputError
from core.metrics.manipulation import (
    class_changed,
    confidence_change_pct,
    explanation_change_pct,
    queries_per_attack,
    ssim,
)


def test_explanation_change_is_the_sum_of_absolute_differences_over_the_original_in_percent():
    z = torch.tensor([[1.0, -2.0, 3.0, 0.0], [1.0, 1.0, 1.0, 1.0]]).reshape(2, 1, 2, 2)
    z_hat = torch.tensor([[1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]).reshape(2, 1, 2, 2)
    # |0| + |-2| + |2| + |-1| = 5 over |1| + |-2| + |3| + |0| = 6; the second pair is identical
    assert explanation_change_pct(z, z_hat).tolist() == pytest.approx([500 / 6, 0.0])
    with pytest.raises(InputError, match="all zero"):
        explanation_change_pct(torch.zeros(1, 1, 2, 2), z_hat[:1])
    with pytest.raises(InputError, match="same shape"):
        explanation_change_pct(z, z_hat[:1])


def test_ssim_of_an_image_with_itself_is_1_and_of_constant_images_follows_eq_1_with_range_1():
    g = torch.Generator().manual_seed(0)
    for channels in (1, 3):
        x = torch.rand(2, channels, 28, 28, generator=g)
        assert ssim(x, x).tolist() == [1.0, 1.0]
    a, b = torch.full((1, 3, 16, 16), 0.2), torch.full((1, 3, 16, 16), 0.4)
    # constant images: no variance, so eq. 1 is (2 mu_x mu_y + c1) / (mu_x^2 + mu_y^2 + c1), c1 = (0.01 L)^2, L = 1
    c1 = 0.01 ** 2
    assert float(ssim(a, b)[0]) == pytest.approx((2 * 0.2 * 0.4 + c1) / (0.2 ** 2 + 0.4 ** 2 + c1), rel=1e-6)
    with pytest.raises(InputError, match="at least 7x7"):
        ssim(a[..., :5, :5], b[..., :5, :5])


def test_confidence_change_and_class_change_are_of_the_original_prediction():
    p = torch.tensor([[0.7, 0.3], [0.2, 0.8]])
    p_hat = torch.tensor([[0.6, 0.4], [0.55, 0.45]])
    y = torch.tensor([0, 1])
    assert confidence_change_pct(p, p_hat, y).tolist() == pytest.approx([10.0, 35.0])
    assert class_changed(p_hat, y).tolist() == [False, True]


def test_queries_per_attack():
    assert queries_per_attack(6, 3, 3, pool=500) == {"predict": 2.0, "explain": 1.0, "pool": 500 / 3}
    with pytest.raises(InputError):
        queries_per_attack(1, 1, 0)
