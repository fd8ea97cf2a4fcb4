"""Saliency, integrated gradients and DeepLIFT SHAP through captum."""
import torch
from torch import nn

from core.explain import relevance
from core.models.wrapper import ImageClassifier


def softplus_model() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.Softplus(), nn.Flatten(), nn.Linear(6 * 64, 4))
    return ImageClassifier(net, (0.4, 0.5, 0.6), (0.2, 0.3, 0.25)).eval()


def test_integrated_gradients_are_complete():
    model = softplus_model()
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    target = torch.tensor([0, 1, 3])
    attributions = relevance(model, x, target, "integrated_gradients", baseline="black", n_steps=64)
    with torch.no_grad():
        delta = (model(x) - model(torch.zeros_like(x))).gather(1, target[:, None])[:, 0]
    torch.testing.assert_close(attributions.sum(dim=(1, 2, 3)), delta, rtol=1e-3, atol=1e-4)


def test_saliency_is_the_absolute_input_gradient():
    model = softplus_model()
    x = torch.rand(2, 3, 8, 8).requires_grad_()
    model(x)[:, 2].sum().backward()
    torch.testing.assert_close(relevance(model, x.detach(), 2, "saliency"), x.grad.abs())
    torch.testing.assert_close(relevance(model, x.detach(), 2, "saliency", abs=False), x.grad)


def test_deeplift_shap_sums_to_the_mean_output_difference_on_a_relu_network():
    torch.manual_seed(2)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16, 10), nn.ReLU(), nn.Linear(10, 3))
    model = ImageClassifier(net, (0.5,) * 3, (0.5,) * 3).eval()
    x = torch.rand(2, 3, 4, 4)
    attributions = relevance(model, x, 1, "deeplift_shap", baselines="black_white")
    with torch.no_grad():
        base = model(torch.stack([torch.zeros(3, 4, 4), torch.ones(3, 4, 4)]))[:, 1].mean()
        expected = model(x)[:, 1] - base
    torch.testing.assert_close(attributions.sum(dim=(1, 2, 3)), expected, rtol=1e-4, atol=1e-5)


def test_seeded_baselines_are_reproducible():
    model = softplus_model()
    x = torch.rand(1, 3, 8, 8)
    a = relevance(model, x, 0, "deeplift_shap", baselines="uniform", n_baselines=3, seed=5)
    b = relevance(model, x, 0, "deeplift_shap", baselines="uniform", n_baselines=3, seed=5)
    c = relevance(model, x, 0, "deeplift_shap", baselines="uniform", n_baselines=3, seed=6)
    assert torch.equal(a, b) and not torch.equal(a, c)
