"""The actionable set A of a counterfactual, and the standardised space the methods work in.

Every method works on z = (x - mean) / std (the S-CFE code's standardised features; for pixels mean 0 and
std 1), so that distances (l2, the lambda term) weigh features alike; results go back to the data's units.
A is a box per row (the talk's A = x_i [-A_i, A_i], here with the row's own ends):

    lo_i(x) = low_i,  hi_i(x) = high_i           a free feature, within its range [low_i, high_i]
    lo_i(x) = hi_i(x) = x_i                      a locked feature
    lo_i(x) = x_i  (increase only),  hi_i(x) = x_i  (decrease only)   one-sided bounds ("age may not decrease")

The factual x always lies in A (its ranges are the data's), which the closed-form projection needs (0 in
the box of the perturbation).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from core.errors import InputError
from core.validate import check_inputs


@dataclass(frozen=True)
class ActionableSet:
    """Per-feature ranges (``low``, ``high``, data units), standardisation (``mean``, ``std``), names, and
    which features are ``locked``, may only ``increase`` or only ``decrease`` (sets of indices)."""

    names: tuple[str, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    locked: frozenset[int] = frozenset()
    increase: frozenset[int] = frozenset()
    decrease: frozenset[int] = frozenset()

    @classmethod
    def of(cls, model_input, locked: Sequence[str] = (), increase: Sequence[str] = (),
           decrease: Sequence[str] = ()) -> ActionableSet:
        """From a ``TabularInput`` (feature names, ranges, statistics), with features named for locks and
        one-sided bounds; an unknown name, or a feature named twice, is refused with a message naming it."""
        names = tuple(model_input.feature_names)
        index = {name: i for i, name in enumerate(names)}
        chosen = {}
        for what, given in (("locked", locked), ("increase only", increase), ("decrease only", decrease)):
            for name in given:
                if name not in index:
                    raise InputError(f"Unknown feature {name!r} ({what}); the features are: {', '.join(names)}.")
                if name in chosen:
                    raise InputError(f"Feature {name!r} is both {chosen[name]} and {what}: choose one.")
                chosen[name] = what
        pick = {what: frozenset(index[n] for n, w in chosen.items() if w == what)
                for what in ("locked", "increase only", "decrease only")}
        return cls(names, tuple(model_input.low), tuple(model_input.high), tuple(model_input.mean),
                   tuple(model_input.std), pick["locked"], pick["increase only"], pick["decrease only"])

    @classmethod
    def pixels(cls, features: int) -> ActionableSet:
        """Pixels in [0, 1], unstandardised (MNIST: the geometry is the pixels')."""
        return cls(tuple(f"pixel {i}" for i in range(features)), (0.0,) * features, (1.0,) * features,
                   (0.0,) * features, (1.0,) * features)

    def _vector(self, values, like: torch.Tensor) -> torch.Tensor:
        return torch.tensor(values, dtype=like.dtype, device=like.device)

    def to_z(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self._vector(self.mean, x)) / self._vector(self.std, x)

    def from_z(self, z: torch.Tensor) -> torch.Tensor:
        return z * self._vector(self.std, z) + self._vector(self.mean, z)

    def check(self, x: torch.Tensor) -> None:
        """Rows (N, D) of this set's features within their ranges."""
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != len(self.names):
            raise InputError(f"Expected rows shaped (N, {len(self.names)}), one value per feature.")
        check_inputs(x, self._vector(self.low, x), self._vector(self.high, x), noun="feature")

    def box(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The ends (lo, hi) of A for the factual rows ``z`` (N, D), in the standardised space."""
        lo = self.to_z(self._vector(self.low, z)).expand_as(z).clone()
        hi = self.to_z(self._vector(self.high, z)).expand_as(z).clone()
        for indices, ends in ((self.locked, (lo, hi)), (self.increase, (lo,)), (self.decrease, (hi,))):
            if indices:
                cols = torch.tensor(sorted(indices), device=z.device)
                for end in ends:
                    end[:, cols] = z[:, cols]
        return lo, hi
