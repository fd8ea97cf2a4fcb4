"""theta(x): a classifier's penultimate features, the input of its last linear layer (the paper takes
ResNet-152's; any loaded model serves here), and new heads on them (``with_head``): the attribute head of
grounding, or a general classifier over a user dataset's classes (``fit_head``: softmax regression on theta,
the last layer fine-tuned as the paper fine-tunes its network, our lighter choice)."""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
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


def with_head(model: nn.Module, weight: torch.Tensor, bias: torch.Tensor) -> nn.Module:
    """A copy of ``model`` (eval mode) whose last linear layer is ``theta -> theta weight^T + bias``; ``model``
    is left as it is."""
    head = last_linear(model)
    if weight.shape[1] != head.in_features:
        raise InputError(f"A head on {weight.shape[1]} features does not fit this model's {head.in_features}.")
    name = next(n for n, m in model.named_modules() if m is head)
    copied = copy.deepcopy(model)
    parent = copied.get_submodule(name.rpartition(".")[0]) if "." in name else copied
    linear = nn.Linear(weight.shape[1], weight.shape[0]).to(head.weight)
    with torch.no_grad():
        linear.weight.copy_(weight)
        linear.bias.copy_(bias)
    setattr(parent, name.rpartition(".")[2], linear)
    return copied.eval()


def fit_head(theta: torch.Tensor, labels: torch.Tensor, classes: int, *, epochs: int = 300, lr: float = 0.05,
             weight_decay: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight (C, D), bias (C,)) of a softmax regression on ``theta`` (N, D), full-batch Adam from zero (so
    deterministic), features scaled inside by their mean norm."""
    check_count("Head epochs", epochs, 1)
    scale = float(theta.norm(dim=1).mean().clamp_min(1e-12)) / math.sqrt(theta.shape[1])
    z = theta.detach() / scale
    weight = torch.zeros(classes, theta.shape[1], device=theta.device, requires_grad=True)
    bias = torch.zeros(classes, device=theta.device, requires_grad=True)
    optimiser = torch.optim.Adam([weight, bias], lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        loss = F.cross_entropy(z @ weight.T + bias, labels)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return weight.detach() / scale, bias.detach()
