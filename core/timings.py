"""How long work took on this machine, kept in the result cache, for estimates before the next run.

A kind of work (``kind``: an attack of a study on a model with its step counts, an explanation
method on a model) records its seconds per input each time it is computed (``record``); its estimate
is the median of the last ``KEPT`` records (``seconds_per_input``), None before the first. Estimates
are this machine's own, so they follow its speed, its device and the model, not a constant.
"""
from __future__ import annotations

import statistics

from core.cache import ResultCache, cache_key

KEPT = 5


def _key(kind: str) -> str:
    return cache_key(kind="timing", work=kind)


def record(cache: ResultCache, kind: str, seconds: float, inputs: int) -> None:
    """Add one run of ``kind``: ``seconds`` for ``inputs`` inputs."""
    found = cache.get(_key(kind))
    samples = (found.meta["seconds_per_input"] if found is not None else [])[-(KEPT - 1):]
    cache.put(_key(kind), {}, {"seconds_per_input": samples + [seconds / max(inputs, 1)]})


def seconds_per_input(cache: ResultCache, kind: str) -> float | None:
    """The median of the last runs of ``kind`` on this machine, seconds per input; None if none ran yet."""
    found = cache.get(_key(kind))
    return statistics.median(found.meta["seconds_per_input"]) if found is not None else None
