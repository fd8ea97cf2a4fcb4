"""Relevance maps: one entry point, ``relevance(model, x, target, method, **params)``.

Methods: ``lrp`` (zennit; parameters ``composite``, ``init``, ``epsilon``, ``gamma``), ``saliency``
(``abs``), ``integrated_gradients`` (``baseline``, ``n_steps``, ``method``, ``seed``) and
``deeplift_shap`` (``baselines``, ``n_baselines``, ``seed``). Returns relevance (N, C, H, W) on the
model's device. Attributions on one model are serialised (see ``core.models.locks``).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from core.errors import InputError
from core.explain import gradients
from core.explain import lrp as lrp_module
from core.explain.lrp import COMPOSITES, DifferentiableLRP
from core.explain.targets import checked_targets, target_tensor
from core.models.locks import model_lock
from core.validate import check_choice, check_images

METHODS: dict[str, Callable[..., torch.Tensor]] = {
    "lrp": lrp_module.lrp,
    "saliency": gradients.saliency,
    "integrated_gradients": gradients.integrated_gradients,
    "deeplift_shap": gradients.deeplift_shap,
}


def relevance(model: nn.Module, x: torch.Tensor, target: int | Sequence[int] | torch.Tensor,
              method: str = "lrp", /, **params) -> torch.Tensor:
    """Relevance of every input pixel of ``x`` (N, C, H, W) in [0, 1] for each image's ``target``.

    The first four arguments are positional-only, so a method's own parameters may reuse their
    names (integrated gradients has ``method``, captum's integration rule).
    """
    check_choice("method", method, METHODS)
    check_images(x)
    param = next(model.parameters())
    x = x.to(param.device).detach()
    t = target_tensor(target, x.shape[0], x.device)
    with model_lock(model), checked_targets(model, t):
        try:
            return METHODS[method](model, x, t, **params).detach()
        except TypeError as exc:
            raise InputError(f"Bad parameter for {method}: {exc}") from exc


__all__ = ["COMPOSITES", "DifferentiableLRP", "METHODS", "relevance"]
