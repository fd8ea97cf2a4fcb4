"""The seeds' torchvision models (vgg16, resnet18, resnet50, vit_b_16) with ImageNet-1k weights.

Weights come, in this order, from a local state-dict file the user names, from torchvision's cache
(``$TORCH_HOME/hub/checkpoints``), or, only when the caller asks for it, from torchvision's download.
Nothing here downloads on its own.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from core.errors import WeightsUnavailableError

TORCHVISION_MODELS = {
    "vgg16": "VGG-16 (ImageNet-1k), the LRP poster's network",
    "resnet18": "ResNet-18 (ImageNet-1k)",
    "resnet50": "ResNet-50 (ImageNet-1k)",
    "vit_b_16": "ViT-B/16 (ImageNet-1k); LRP not supported (attention)",
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _weights(name: str):
    return torchvision.models.get_model_weights(name).IMAGENET1K_V1


def cached_weights_path(name: str) -> Path:
    """Where torchvision keeps (or would keep) the weights file of ``name``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(_weights(name).url).name


def architecture(name: str) -> nn.Module:
    """The torchvision network without weights."""
    return torchvision.models.get_model(name, weights=None)


def resolve_weights(name: str, allow_download: bool) -> Path:
    """The cached weights file, downloading it first only when ``allow_download`` is set."""
    path = cached_weights_path(name)
    if path.is_file():
        return path
    if allow_download:
        torch.hub.load_state_dict_from_url(_weights(name).url, progress=False, check_hash=True)
        return path
    raise WeightsUnavailableError(
        f"No offline weights for {name}: torchvision's file {path.name} is not in {path.parent}. "
        f"Either pass a local state-dict file (--weights PATH, or the weights box in the dashboard), "
        f"copy {path.name} into {path.parent}, or download it once with "
        f"`python -m core models --download {name}` on a machine with internet."
    )
