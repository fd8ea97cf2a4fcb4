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
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from core import timings
from core.attacks.loop import Progress
from core.attacks.result import AttackResult
from core.cache import ResultCache, cache_key
from core.studies import cluster
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


Work = Callable[..., tuple[dict[str, np.ndarray], dict[str, Any]]]  # work(model, *args, progress=...)


@dataclass(frozen=True)
class Chunk:
    """One piece of a study's work: ``work(model, *args, progress=...)`` gives its arrays and meta; ``key``
    is its cache key (None: not cached), ``size`` the inputs it covers, ``label`` where it sits."""

    args: tuple
    key: str | None
    size: int
    label: str = ""


def run_chunk(work: Work, model: nn.Module, chunk: Chunk, *, cache: ResultCache | None,
              progress: Progress | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any], bool]:
    """One chunk here, read from ``cache`` under its key or computed (its seconds put in its meta) and
    stored: (arrays, meta, whether it came from the cache)."""
    def compute():
        started = time.perf_counter()
        arrays, meta = work(model, *chunk.args, progress=progress)
        return arrays, {"seconds": time.perf_counter() - started} | meta

    if cache is None or chunk.key is None:
        return *compute(), False
    cached, hit = cache.get_or_compute(chunk.key, compute)
    return cached.arrays, cached.meta, hit


def run_chunks(work: Work, model: nn.Module, chunks: Sequence[Chunk], *, model_id: str | None = None,
               cache: ResultCache | None = None, timing: str | None = None,
               progress: Progress | None = None) -> list[tuple[dict[str, np.ndarray], dict[str, Any], bool]]:
    """Every chunk, in order, here or (inside ``core.studies.cluster.session``) as tasks on a Ray cluster:
    (arrays, meta, from the cache) each. A computed chunk's time per input is recorded under ``timing``
    (``core.timings``, for the estimates)."""
    if cluster.active() is not None:
        return cluster.run_chunks(work, model, chunks, model_id=model_id, cache=cache, timing=timing,
                                  progress=progress)
    done = []
    for k, chunk in enumerate(chunks):
        part = sub_progress(progress, k / len(chunks), (k + 1) / len(chunks), chunk.label)
        arrays, meta, hit = run_chunk(work, model, chunk, cache=cache, progress=part)
        if not hit and cache is not None and chunk.key is not None and timing is not None:
            timings.record(cache, timing, meta["seconds"], chunk.size)
        done.append((arrays, meta, hit))
    return done


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


def attack_chunk(model: nn.Module, chunk: torch.Tensor, attack: Attack, params: dict[str, Any], *,
                 progress: Progress | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``run_attack``'s work on one chunk: the attack's result as arrays, and its name, params and history."""
    result = attack(model, chunk, progress=progress, **params)
    history = {key: v.cpu().tolist() for key, v in result.history.items()}
    return result.arrays(), {"name": result.name, "params": result.params, "history": history}


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
    cached = cache is not None and model_id is not None and input_digests is not None
    pieces = [x[start: start + batch_size] for start in range(0, n, batch_size)]
    chunks = [Chunk((piece, attack, params),
                    _chunk_key(study, name, model_id, input_digests[start: start + len(piece)], params)
                    if cached else None, len(piece),
                    f"{chunk_label(start, len(piece), n)}, " if len(pieces) > 1 else "")
              for start, piece in zip(range(0, n, batch_size), pieces)]
    done = run_chunks(attack_chunk, model, chunks, model_id=model_id, cache=cache if cached else None,
                      timing=timing_kind(study, name, model_id, params), progress=progress)
    return AttackResult.concat([AttackResult.from_arrays(meta["name"], arrays, meta["params"], meta["history"], piece,
                                                         meta.get("seconds"), hit)
                                for piece, (arrays, meta, hit) in zip(pieces, done)])
