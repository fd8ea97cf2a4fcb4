"""Class activation maps to set beside a perturbation (the GSE paper's Figure 4 compares its perturbed pixels
with them).

Grad-CAM (Selvaraju et al. 2017): with ``A^k`` (h, w) the k-th feature map of a convolutional ``layer`` and
``Z_c`` the logit of class c, ``alpha_k = 1 / (h w) sum_ij dZ_c / dA^k_ij`` and the map ``ReLU(sum_k alpha_k A^k)``,
upsampled bilinearly to the input and divided by its maximum (so in [0, 1]). Where the network ends in global
average pooling and one linear layer (Zhou et al.'s CAM setting, e.g. efficientnet_lite0), ``alpha_k =
W_{c,k} / (h w)``, so the normalised map is exactly CAM's ``sum_k W_{c,k} A^k`` (clipped at zero); elsewhere it
is Grad-CAM. ``layer`` defaults to the network's last ``nn.Conv2d``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import UnsupportedError
from core.models.locks import model_lock
from core.validate import check_images_for, check_labels


def last_conv(model: nn.Module) -> nn.Module:
    """The last ``nn.Conv2d`` registered in ``model``."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise UnsupportedError("Class activation maps need a convolutional layer; this model has none.")
    return convs[-1]


def class_activation_map(model: nn.Module, x: torch.Tensor, classes: torch.Tensor,
                         layer: nn.Module | None = None) -> torch.Tensor:
    """The map (N, H, W) in [0, 1] of each image's class in ``classes`` (see the module docstring)."""
    check_images_for(model, x)
    layer = layer or last_conv(model)
    kept: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: kept.append(out))
    try:
        with model_lock(model), torch.enable_grad():
            logits = model(x.detach().requires_grad_())  # a graph even where the weights are frozen
            classes = check_labels("classes", classes, x.shape[0], logits.shape[1]).to(x.device)
            (features,) = kept
            (grads,) = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), features)
    finally:
        handle.remove()
    weights = grads.mean((2, 3), keepdim=True)
    cam = F.relu((weights * features.detach()).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    top = cam.flatten(1).amax(1).view(-1, 1, 1)
    return torch.where(top > 0, cam / top.clamp_min(1e-30), torch.zeros_like(cam))
