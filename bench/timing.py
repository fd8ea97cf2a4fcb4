"""A small timer that compares two contenders on the same work: ours against a peer library.

``compare(ours, peer, repeats, warmup)`` runs both callables ``warmup`` times untimed, then
``repeats`` timed rounds, interleaved so that machine noise (other processes, frequency scaling,
thermal throttling) hits both alike. Within a round the order alternates (ours-peer, peer-ours, ...)
so neither contender always runs right after the other's allocations. Wall time is
``time.perf_counter``; pass ``sync`` (e.g. ``sync_for(x)``) to wait for queued GPU work before each
clock read. Reported: median and interquartile range per contender, and ``ratio`` =
median(ours) / median(peer).
"""
from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch


def sync_for(x: torch.Tensor) -> Callable[[], None] | None:
    """``torch.cuda.synchronize`` when ``x`` lives on a CUDA device, else None (nothing to wait for)."""
    return torch.cuda.synchronize if x.is_cuda else None


@dataclass(frozen=True)
class Stats:
    """Wall times (seconds) of one contender."""

    times: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def q1(self) -> float:
        return _quantile(self.times, 0.25)

    @property
    def q3(self) -> float:
        return _quantile(self.times, 0.75)

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def to_dict(self) -> dict:
        return {"median_s": self.median, "q1_s": self.q1, "q3_s": self.q3, "iqr_s": self.iqr,
                "min_s": min(self.times), "max_s": max(self.times), "times_s": list(self.times)}


@dataclass(frozen=True)
class Comparison:
    """Ours against a peer on the same work; ``ratio`` > 1 means ours is slower."""

    name: str
    ours: Stats
    peer: Stats
    repeats: int
    warmup: int
    target: float | None = None  # the highest acceptable ratio, if any
    notes: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.ours.median / self.peer.median

    @property
    def passed(self) -> bool | None:
        return None if self.target is None else self.ratio <= self.target

    def to_dict(self) -> dict:
        return {"name": self.name, "ours": self.ours.to_dict(), "peer": self.peer.to_dict(),
                "ratio": self.ratio, "target": self.target, "passed": self.passed,
                "repeats": self.repeats, "warmup": self.warmup, "notes": dict(self.notes)}


def _quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default), exact for one value."""
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _timed(fn: Callable[[], Any], sync: Callable[[], None] | None) -> float:
    """Seconds of one call, garbage collector off while it runs (as ``timeit`` does)."""
    gc.collect()
    if sync is not None:
        sync()
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        result = fn()
        if sync is not None:
            sync()
        elapsed = time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()
    del result
    return elapsed


def compare(ours: Callable[[], Any], peer: Callable[[], Any], repeats: int, warmup: int, *,
            name: str = "", target: float | None = None, sync: Callable[[], None] | None = None,
            notes: dict | None = None) -> Comparison:
    """Time ``ours`` against ``peer``: ``warmup`` untimed rounds, then ``repeats`` interleaved timed ones."""
    if repeats < 1 or warmup < 0:
        raise ValueError("compare needs repeats >= 1 and warmup >= 0.")
    for _ in range(warmup):
        ours()
        peer()
    if sync is not None:
        sync()
    ours_t: list[float] = []
    peer_t: list[float] = []
    for i in range(repeats):
        if i % 2 == 0:
            ours_t.append(_timed(ours, sync))
            peer_t.append(_timed(peer, sync))
        else:
            peer_t.append(_timed(peer, sync))
            ours_t.append(_timed(ours, sync))
    return Comparison(name=name, ours=Stats(tuple(ours_t)), peer=Stats(tuple(peer_t)), repeats=repeats,
                      warmup=warmup, target=target, notes=dict(notes or {}))


def format_table(comparisons: Sequence[Comparison], peer_label: str = "peer") -> str:
    """A plain-text table: method, medians (with IQR), ratio, target, pass/fail."""
    header = ("method", "ours median s (IQR)", f"{peer_label} median s (IQR)", "ratio", "target", "result")
    rows = [header]
    for c in comparisons:
        verdict = "-" if c.passed is None else ("pass" if c.passed else "FAIL")
        rows.append((
            c.name,
            f"{c.ours.median:.4f} ({c.ours.iqr:.4f})",
            f"{c.peer.median:.4f} ({c.peer.iqr:.4f})",
            f"{c.ratio:.3f}",
            "-" if c.target is None else f"<= {c.target:.2f}",
            verdict,
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def n_outputs(model: torch.nn.Module, x: torch.Tensor) -> int:
    """The number of classes the model scores (one image through it)."""
    with torch.no_grad():
        return int(model(x[:1]).shape[1])


__all__ = ["Comparison", "Stats", "compare", "format_table", "n_outputs", "sync_for"]
