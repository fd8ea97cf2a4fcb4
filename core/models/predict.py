"""Top-k predictions with class names."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Prediction:
    index: int
    name: str
    probability: float

    def to_dict(self) -> dict:
        return {"index": self.index, "name": self.name, "probability": self.probability}


@torch.no_grad()
def top_k(model: nn.Module, x: torch.Tensor, class_names: Sequence[str], k: int = 5) -> list[list[Prediction]]:
    """For each image of the batch, the ``k`` most probable classes (softmax of the logits)."""
    probs = model(x).softmax(dim=1)
    values, indices = probs.topk(min(k, probs.shape[1]), dim=1)
    return [
        [Prediction(int(i), class_names[int(i)], float(v)) for v, i in zip(vs.tolist(), ix.tolist())]
        for vs, ix in zip(values.cpu(), indices.cpu())
    ]
