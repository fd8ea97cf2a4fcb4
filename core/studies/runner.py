"""The study runner: one attack over a batch of inputs, in chunks, each chunk read from the persistent
cache when the same run on the same inputs was done before, else computed and timed.

Every study runs its attacks through ``run_attack``: the chunks are what makes a table's figures
reproducible (another batch size sums in another order), the cache what makes a rerun take seconds.
A chunk's cache key is the study's name, the attack's name, the model (``ModelInfo.model_id``), the
chunk's input digests and the attack's parameters, everything its result depends on; a study puts
whatever else that is (the C2F level) into the parameters it passes.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from core import timings
from core.attacks.loop import Progress
from core.attacks.result import AttackResult
from core.cache import ResultCache, cache_key
from core.validate import check_count, check_inputs

Attack = Callable[..., AttackResult]  # attack(model, x, progress=..., **params)


def sub_progress(progress: Progress | None, start: float, end: float, label: str = "") -> Progress | None:
    """The part ``[start, end]`` of ``progress``: a fraction ``f`` of the part is reported as
    ``start + f (end - start)``, each message after ``label`` ("PGDC: "; None where ``progress`` is None)."""
    if progress is None:
        return None

    def part(fraction: float, message: str) -> None:
        progress(start + fraction * (end - start), label + message)

    return part


def chunk_label(start: int, size: int, n: int) -> str:
    """``"image 3 of 6"`` or ``"images 1-4 of 6"``: where a chunk sits in the batch."""
    return (f"image {start + 1}" if size == 1 else f"images {start + 1}-{start + size}") + f" of {n}"


def _chunk_key(study: str, name: str, model_id: str, digests: Sequence[str], params: dict[str, Any]) -> str:
    return cache_key(kind=f"{study}-attack", attack=name, model=model_id, inputs=list(digests), params=params)


def timing_kind(study: str, name: str, model_id: str | None, params: dict[str, Any]) -> str:
    """What an attack's time per input depends on, as ``core.timings`` keys it: the study, the attack,
    the model and its step count (budgets change what a step does, not what it costs)."""
    return f"{study}/{name}/{model_id}/steps={params.get('steps')}"


def estimate_seconds(study: str, name: str, params: dict[str, Any], *, model_id: str, input_digests: Sequence[str],
                     cache: ResultCache, batch_size: int = 4) -> float | None:
    """How long ``run_attack`` with these arguments would take on this machine: the inputs of the chunks
    not in the cache times the median seconds per input of this kind of run here (0 where every chunk
    is cached; None where some must run and this kind never ran here)."""
    starts = range(0, len(input_digests), batch_size)
    missing = sum(len(input_digests[s: s + batch_size]) for s in starts
                  if _chunk_key(study, name, model_id, input_digests[s: s + batch_size], params) not in cache)
    if missing == 0:
        return 0.0
    per_input = timings.seconds_per_input(cache, timing_kind(study, name, model_id, params))
    return None if per_input is None else missing * per_input


def run_attack(study: str, name: str, attack: Attack, model: nn.Module, x: torch.Tensor, params: dict[str, Any], *,
               model_id: str | None = None, input_digests: Sequence[str] | None = None,
               cache: ResultCache | None = None, batch_size: int = 4, progress: Progress | None = None) -> AttackResult:
    """``attack(model, chunk, **params)`` on ``x`` (N, ...) in chunks of ``batch_size`` inputs, as one result.
    With a ``cache``, a ``model_id`` and the inputs' digests, each chunk is read from the cache under
    (``study``, ``name``, model, digests, ``params``) or computed, stored there, and its time recorded
    (``core.timings``, for ``estimate_seconds``)."""
    check_count("The batch size", batch_size, 1)
    check_inputs(x, None, None)
    n = x.shape[0]
    starts = range(0, n, batch_size)
    parts = []
    for k, start in enumerate(starts):
        chunk = x[start: start + batch_size]
        part = sub_progress(progress, k / len(starts), (k + 1) / len(starts),
                            f"{chunk_label(start, len(chunk), n)}, " if len(starts) > 1 else "")

        def compute(chunk=chunk, part=part):
            started = time.perf_counter()
            result = attack(model, chunk, progress=part, **params)
            history = {key: v.cpu().tolist() for key, v in result.history.items()}
            return result.arrays(), {"name": result.name, "params": result.params, "history": history,
                                     "seconds": time.perf_counter() - started}

        if cache is None or model_id is None or input_digests is None:
            (arrays, meta), hit = compute(), False
        else:
            key = _chunk_key(study, name, model_id, input_digests[start: start + batch_size], params)
            cached, hit = cache.get_or_compute(key, compute)
            arrays, meta = cached.arrays, cached.meta
            if not hit:
                timings.record(cache, timing_kind(study, name, model_id, params), meta["seconds"], len(chunk))
        parts.append(AttackResult.from_arrays(meta["name"], arrays, meta["params"], meta["history"], chunk,
                                              meta.get("seconds"), hit))
    return AttackResult.concat(parts)
