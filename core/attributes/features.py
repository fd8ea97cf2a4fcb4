"""theta(x): a classifier's penultimate features, the input of its last linear layer (the paper takes
ResNet-152's; any loaded model serves here)."""
from __future__ import annotations

import torch
from torch import nn

from core.errors import InputError
from core.models.locks import model_lock
from core.validate import check_count, check_images_for


def last_linear(model: nn.Module) -> nn.Linear:
    """The model's last ``nn.Linear`` in module order (its classifier head)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise InputError("The model has no linear layer whose input could serve as its features theta(x).")
    return linears[-1]


def features(model: nn.Module, x: torch.Tensor, *, grad: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(theta(x) (N, D), logits (N, C)) in one forward pass, on ``x``'s device; with ``grad`` both stay
    differentiable in ``x`` (for attributions of A = theta(x) W)."""
    check_images_for(model, x)
    seen = []
    handle = last_linear(model).register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    try:
        with model_lock(model), torch.set_grad_enabled(grad):
            logits = model(x)
    finally:
        handle.remove()
    return seen[-1].flatten(1), logits


def batched_features(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """``features`` over ``x`` in batches (no gradient): (theta (N, D), logits (N, C))."""
    check_count("The batch size", batch_size, 1)
    parts = [features(model, x[s:s + batch_size]) for s in range(0, len(x), batch_size)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
