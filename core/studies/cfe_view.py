"""What the Counterfactuals page shows, without Streamlit: typed rows read and checked feature by feature,
the changes of a counterfactual in the data's units, and the 2-D view of Figure 5 (PCA of the standardised
training rows)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from core.counterfactuals.actionable import ActionableSet
from core.errors import InputError


def parse_row(text: str, space: ActionableSet) -> torch.Tensor:
    """One row (1, D) from ``text``: D numbers separated by commas or new lines, in the features' order and
    units. A value that is not a number, or outside its feature's range, is refused naming the feature."""
    parts = [p.strip() for p in text.replace("\n", ",").split(",") if p.strip()]
    if len(parts) != len(space.names):
        raise InputError(f"Give {len(space.names)} values (one per feature, in order), got {len(parts)}.")
    values = []
    for name, part, low, high in zip(space.names, parts, space.low, space.high):
        try:
            value = float(part)
        except ValueError:
            raise InputError(f"The value of {name!r} is not a number: {part!r}.") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise InputError(f"The value of {name!r}, {part}, lies outside its range [{low:g}, {high:g}].")
        values.append(value)
    return torch.tensor([values], dtype=torch.float32)


def format_row(x: torch.Tensor) -> str:
    """A row as ``parse_row`` reads it."""
    return ", ".join(f"{v:.6g}" for v in x.flatten().tolist())


@dataclass(frozen=True)
class Change:
    """One changed feature: its name, unit, value before and after (data units), change in standard units."""

    feature: str
    unit: str
    before: float
    after: float
    z_change: float


def changes(x: torch.Tensor, y: torch.Tensor, space: ActionableSet, units: tuple[str, ...]) -> list[Change]:
    """The features ``y`` (1, D) changed from ``x`` (1, D), largest standardised change first."""
    dz = (space.to_z(y) - space.to_z(x)).flatten().tolist()
    out = [Change(space.names[i], units[i], float(x[0, i]), float(y[0, i]), dz[i])
           for i in range(len(space.names)) if float(y[0, i]) != float(x[0, i])]
    return sorted(out, key=lambda c: -abs(c.z_change))


def pca_view(z_train: torch.Tensor, *points: torch.Tensor) -> tuple[np.ndarray, list[np.ndarray], tuple[float, float]]:
    """The training rows and ``points`` projected on the first two principal components of the training rows
    (standardised space): (training (N, 2), each of ``points`` (n, 2), the variance share of each axis)."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2).fit(z_train.detach().cpu().double().numpy())
    project = [pca.transform(p.detach().cpu().double().numpy()) for p in points]
    ratio = pca.explained_variance_ratio_
    return pca.transform(z_train.detach().cpu().double().numpy()), project, (float(ratio[0]), float(ratio[1]))
