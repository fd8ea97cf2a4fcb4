"""The small MNIST CNN that the project trains itself (``python -m core train mnist_cnn``).

Two conv blocks (3x3 conv, ReLU, 2x2 max-pool) and two linear layers; every ReLU is its own module
(captum's DeepLIFT and zennit's rules need that). Input (N, 1, 28, 28) in [0, 1]; the 10 logits.
"""
from __future__ import annotations

from torch import nn

MEAN = (0.1307,)
STD = (0.3081,)


class MnistCNN(nn.Sequential):
    """conv(1->32) relu pool, conv(32->64) relu pool, fc(3136->128) relu, fc(128->10)."""

    def __init__(self, num_classes: int = 10):
        super().__init__(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, 128),
            nn.ReLU(),
            nn.Linear(128, num_classes),
        )
