"""Gradient-based explainers through captum: saliency, integrated gradients, DeepLIFT SHAP.

- ``saliency``: ``|d f_c / d x|`` (``abs=True``, Simonyan et al.) or the signed gradient.
- ``integrated_gradients``: ``(x - x') * int_0^1 d f_c(x' + a (x - x')) / d x da`` (Riemann/Gauss-Legendre
  with ``n_steps``); completeness: the sum equals ``f_c(x) - f_c(x')``.
- ``deeplift_shap``: DeepLIFT (rescale rule) averaged over a distribution of baselines ``x'``.

Baselines are a parameter: ``"black"`` (0), ``"white"`` (1), ``"gray"`` (0.5), ``"uniform"`` (seeded
uniform noise), or a tensor. DeepLIFT SHAP takes a set of baselines: ``"black_white"`` (default),
``"uniform"`` (``n_baselines`` seeded noise images) or a tensor (K, C, H, W).
"""
from __future__ import annotations

import warnings

import torch
from captum.attr import DeepLiftShap, IntegratedGradients, Saliency
from captum.attr._core import deep_lift
from torch import nn

from core.errors import InputError

# DeepLIFT's rescale multiplier is valid for any elementwise monotone nonlinearity; captum's table
# omits ReLU6 (used by EfficientNet-Lite), which would otherwise fall back to the plain gradient.
deep_lift.SUPPORTED_NON_LINEAR.setdefault(nn.ReLU6, deep_lift.nonlinear)

BASELINES = ("black", "white", "gray", "uniform")
# More path points change nothing visible in float32, and Gauss-Legendre's nodes cost O(n^3) to find
# (numpy's leggauss): 10^4 steps take minutes and 10^8 would ask for petabytes.
MAX_IG_STEPS = 1000
SHAP_BASELINES = ("black_white", "uniform")


def baseline_like(x: torch.Tensor, baseline: str | torch.Tensor, seed: int = 0) -> torch.Tensor:
    """One baseline image per input image, same shape as ``x``."""
    if isinstance(baseline, torch.Tensor):
        return baseline.to(x).expand_as(x)
    fills = {"black": 0.0, "white": 1.0, "gray": 0.5}
    if baseline in fills:
        return torch.full_like(x, fills[baseline])
    if baseline == "uniform":
        g = torch.Generator(device="cpu").manual_seed(seed)
        return torch.rand(x.shape, generator=g).to(x)
    raise InputError(f"Unknown baseline {baseline!r}; choose one of {', '.join(BASELINES)} or pass a tensor.")


def shap_baselines(x: torch.Tensor, baselines: str | torch.Tensor, n_baselines: int, seed: int) -> torch.Tensor:
    """The baseline distribution (K, C, H, W) of DeepLIFT SHAP."""
    if isinstance(baselines, torch.Tensor):
        return baselines.to(x)
    shape = (n_baselines, *x.shape[1:])
    if baselines == "black_white":
        return torch.cat([torch.zeros(1, *x.shape[1:]), torch.ones(1, *x.shape[1:])]).to(x)
    if baselines == "uniform":
        if n_baselines < 1:
            raise InputError("DeepLIFT SHAP needs n_baselines >= 1.")
        g = torch.Generator(device="cpu").manual_seed(seed)
        return torch.rand(shape, generator=g).to(x)
    raise InputError(f"Unknown baselines {baselines!r}; choose one of {', '.join(SHAP_BASELINES)} or pass a tensor.")


def saliency(model: nn.Module, x: torch.Tensor, target: torch.Tensor, abs: bool = True) -> torch.Tensor:
    # an input that already requires gradients: captum would otherwise set the flag on the caller's tensor, and warn
    return Saliency(model).attribute(x.detach().requires_grad_(), target=target, abs=abs)


def integrated_gradients(model: nn.Module, x: torch.Tensor, target: torch.Tensor, baseline="black",
                         n_steps: int = 50, method: str = "gausslegendre", internal_batch_size: int | None = None,
                         seed: int = 0) -> torch.Tensor:
    if not 1 <= n_steps <= MAX_IG_STEPS:
        raise InputError(f"Integrated gradients takes 1 to {MAX_IG_STEPS} steps (n_steps), got {n_steps}.")
    return IntegratedGradients(model).attribute(
        x, baselines=baseline_like(x, baseline, seed), target=target, n_steps=n_steps, method=method,
        internal_batch_size=internal_batch_size,
    )


def deeplift_shap(model: nn.Module, x: torch.Tensor, target: torch.Tensor, baselines="black_white",
                  n_baselines: int = 8, seed: int = 0) -> torch.Tensor:
    baselines = shap_baselines(x, baselines, n_baselines, seed)
    with warnings.catch_warnings():  # captum's notice that it hooks the activations while it runs
        warnings.filterwarnings("ignore", message="Setting forward, backward hooks", category=UserWarning)
        return DeepLiftShap(model).attribute(x, baselines=baselines, target=target)
