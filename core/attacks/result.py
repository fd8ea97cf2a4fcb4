"""The one result type every attack returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class AttackResult:
    """Adversarial images and what happened to each image of the batch.

    ``x_adv = x + delta`` in [0, 1]; ``success[n]`` says whether image n met the attack's goal;
    ``iterations[n]`` how many update steps it took; ``labels`` the decisions before and after
    (e.g. ``{"coarse_before": ..., "coarse_after": ...}``); ``history`` per-iteration curves
    (e.g. the mean loss), one value per step; ``seconds`` the wall time of the run that computed it
    (set by ``core.studies.c2f.run_attack``, kept when the result is read back from the cache; None
    where not timed); ``from_cache`` whether ``run_attack`` read it back from the cache instead of
    running the attack.
    """

    name: str
    x_adv: torch.Tensor
    delta: torch.Tensor
    success: torch.Tensor
    iterations: torch.Tensor
    params: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, torch.Tensor] = field(default_factory=dict)
    history: dict[str, torch.Tensor] = field(default_factory=dict)
    seconds: float | None = None
    from_cache: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (no image arrays)."""
        flat = self.delta.flatten(1)
        return {
            "attack": self.name,
            "params": self.params,
            "success": self.success.cpu().tolist(),
            "iterations": self.iterations.cpu().tolist(),
            "linf": flat.abs().amax(1).cpu().tolist(),
            "l2": flat.norm(dim=1).cpu().tolist(),
            "labels": {k: v.cpu().tolist() for k, v in self.labels.items()},
            "history": {k: v.cpu().tolist() for k, v in self.history.items()},
            "seconds": self.seconds,
        }

    @classmethod
    def concat(cls, parts: list[AttackResult]) -> AttackResult:
        """One result from results on consecutive chunks of a batch (same attack and parameters)."""
        first = parts[0]

        def cat(get):
            return torch.cat([get(p) for p in parts])

        labels = {k: cat(lambda p, k=k: p.labels[k]) for k in first.labels}
        steps = max(len(v) for p in parts for v in p.history.values()) if first.history else 0
        history = {k: torch.stack([_pad(p.history[k], steps) for p in parts]).nanmean(0) for k in first.history}
        seconds = None if any(p.seconds is None for p in parts) else sum(p.seconds for p in parts)
        return cls(first.name, cat(lambda p: p.x_adv), cat(lambda p: p.delta), cat(lambda p: p.success),
                   cat(lambda p: p.iterations), first.params, labels, history, seconds,
                   all(p.from_cache for p in parts))

    @classmethod
    def from_arrays(cls, name: str, arrays: dict[str, np.ndarray], params: dict[str, Any],
                    history: dict[str, list[float]], x: torch.Tensor, seconds: float | None = None,
                    from_cache: bool = False) -> AttackResult:
        """Rebuild a result from ``arrays()`` (e.g. read back from the cache) on ``x``'s device."""
        t = {k: torch.from_numpy(np.array(v)).to(x.device) for k, v in arrays.items()}
        labels = {k[len("label_"):]: v for k, v in t.items() if k.startswith("label_")}
        hist = {k: torch.tensor(v, device=x.device) for k, v in history.items()}
        return cls(name, t["x_adv"], t["delta"], t["success"], t["iterations"], params, labels, hist, seconds,
                   from_cache)

    def arrays(self) -> dict[str, np.ndarray]:
        """The tensors as CPU numpy arrays, for NPZ downloads."""
        out = {"x_adv": self.x_adv, "delta": self.delta, "success": self.success, "iterations": self.iterations}
        out |= {f"label_{k}": v for k, v in self.labels.items()}
        return {k: v.detach().cpu().numpy() for k, v in out.items()}


def _pad(curve: torch.Tensor, length: int) -> torch.Tensor:
    """A per-step curve padded with NaN to ``length`` (chunks may stop early at different steps)."""
    out = torch.full((length,), float("nan"), dtype=torch.float32, device=curve.device)
    out[: curve.numel()] = curve.float()
    return out
