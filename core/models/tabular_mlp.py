"""The small MLPs of the S-CFE study (``python -m core train housing_mlp | wine_mlp | cancer_mlp``).

As in the S-CFE code: two hidden layers of ``hidden`` ReLU units (20 for Housing and Wine, 50 for
Breast Cancer), here with two logits (softmax, cross-entropy) where that code has one sigmoid output.
Inputs are standardised inside ``TabularClassifier``; the net sees z-scores.
"""
from __future__ import annotations

from torch import nn

HIDDEN = {"housing": 20, "wine": 20, "cancer": 50}


class TabularMLP(nn.Sequential):
    """fc(features->hidden) relu, fc(hidden->hidden) relu, fc(hidden->classes)."""

    def __init__(self, features: int, hidden: int, classes: int = 2):
        super().__init__(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, classes))
