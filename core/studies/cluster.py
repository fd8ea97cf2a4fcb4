"""Evaluations past one machine: inside ``session(address, workers)`` the study runner sends its chunks to
a Ray cluster, one task per chunk, instead of computing them here.

Each task runs on a worker that loads the model once (``core.models.registry.ModelRecipe``: the same
name, weights file and hierarchy, refused where the node's weights digest differs) and keeps it for the
next chunks; it takes one GPU where the cluster has GPUs, else ``threads`` CPU threads. A chunk is read
from the node's result cache or computed and stored there, and the driver stores it in its own cache, so a
rerun reads it wherever it runs. The results come back in the chunks' order and are assembled exactly as a
local run assembles them. The workers report their progress to one small actor that the driver reads for
its one bar; a task whose worker dies is retried (``RETRIES``) on another; Ctrl-C cancels every task.

``ray`` is imported by ``session`` only: without it nothing about Ray is loaded.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from core import provenance
from core.cache import ResultCache
from core.errors import InputError

RETRIES = 3  # attempts after the first for a chunk whose worker died
POLL_S = 0.25  # how often the driver reads the workers' progress
REPORT_S = 0.5  # how often a worker reports its chunk's progress

_ACTIVE: ContextVar[Cluster | None] = ContextVar("xadv_cluster", default=None)
_WORKER_MODELS: dict[tuple[str, str], Any] = {}  # on a worker: (model_id, device) -> model, loaded once


@dataclass
class Cluster:
    """The Ray cluster a session runs on: at most ``workers`` tasks at once, each with ``threads`` CPU
    threads or one GPU (``gpus``: whether the cluster has GPUs); ``chunks``: how many went through it."""

    address: str
    workers: int
    threads: int
    gpus: bool
    chunks: int = 0

    def describe(self) -> dict[str, Any]:
        """Nodes, workers and devices, for a result's provenance."""
        import ray

        nodes = [n for n in ray.nodes() if n.get("Alive")]
        return {"address": self.address, "nodes": len(nodes), "workers": self.workers,
                "threads_per_worker": None if self.gpus else self.threads,
                "devices": [{"node": n.get("NodeManagerAddress"), "cpus": n["Resources"].get("CPU", 0),
                             "gpus": n["Resources"].get("GPU", 0)} for n in nodes]}


def active() -> Cluster | None:
    """The cluster of the session this code runs in, or None (compute here)."""
    return _ACTIVE.get()


@contextlib.contextmanager
def running_on(cluster: Cluster | None) -> Iterator[None]:
    """Run the block's chunks on ``cluster`` (e.g. the session's with fewer workers) or, for None, here."""
    token = _ACTIVE.set(cluster)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


@contextlib.contextmanager
def session(address: str, workers: int | None = None, threads: int = 1) -> Iterator[Cluster]:
    """Connect to Ray for the ``with`` block: ``address`` "auto" starts a local instance on this machine
    (``workers`` x ``threads`` CPUs), anything else is an existing cluster's address (``ray start --head``
    prints it). ``workers``: tasks at once (default: the cluster's GPUs, else its CPUs / ``threads``)."""
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}.")
    if threads < 1:
        raise InputError(f"--worker-threads must be at least 1, got {threads}.")
    import ray

    options = {"include_dashboard": False, "log_to_driver": False, "logging_level": "error"}
    try:
        if address == "auto":
            ray.init(num_cpus=(workers or os.cpu_count() or 1) * threads, **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise InputError(f"Could not reach a Ray cluster at {address!r}: {str(exc).splitlines()[0]}. Start one with "
                         "`ray start --head` and give the address it prints, or use --ray auto.") from exc
    try:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        default = gpus if gpus else max(1, int(resources.get("CPU", 1)) // threads)
        cluster = Cluster(address, workers or default, threads, gpus > 0)
        token, recorded = _ACTIVE.set(cluster), provenance.ran_on.set(cluster.describe())
        try:
            yield cluster
        finally:
            provenance.ran_on.reset(recorded)
            _ACTIVE.reset(token)
        if cluster.chunks == 0:
            print("note: nothing went through the study runner, so nothing ran on the Ray cluster", file=sys.stderr)
    finally:
        ray.shutdown()


def _worker_model(recipe, device: str):
    """This worker's copy of the model, loaded (and its digest checked) at its first chunk."""
    key = (recipe.model_id, device)
    if key not in _WORKER_MODELS:
        _WORKER_MODELS[key] = recipe.build(device).model
    return _WORKER_MODELS[key]


def _moved(value: Any, move) -> Any:
    """``value`` with every tensor in it (in tuples, lists, dicts and dataclasses) passed through ``move``."""
    import torch

    if isinstance(value, torch.Tensor):
        return move(value)
    if isinstance(value, (tuple, list)):
        return type(value)(_moved(v, move) for v in value)
    if isinstance(value, dict):
        return {k: _moved(v, move) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _moved(getattr(value, f.name), move) for f in dataclasses.fields(value) if f.init}
        if any(changes[k] is not getattr(value, k) for k in changes):
            return dataclasses.replace(value, **changes)
    return value


def _task(work, recipe, chunk, cache_dir: str | None, threads: int, reporter, index: int):
    """One chunk on a worker: the model loaded once per worker, the chunk read from this node's cache or
    computed, its progress reported at most every ``REPORT_S`` seconds."""
    import torch

    from core import device as best_device
    from core.studies.runner import Chunk, run_chunk

    device = str(best_device())  # Ray hides the GPUs a task was not given, so a CPU task sees none
    if device == "cpu":
        torch.set_num_threads(threads)
    model = _worker_model(recipe, device)
    last = [0.0]

    def progress(fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - last[0] >= REPORT_S or fraction >= 1.0:
            last[0] = now
            reporter.report.remote(index, fraction, message)

    cache = None if cache_dir is None else ResultCache(cache_dir)
    on_device = Chunk(_moved(chunk.args, lambda t: t.to(device)), chunk.key, chunk.size, chunk.label)
    arrays, meta, hit = run_chunk(work, model, on_device, cache=cache, progress=progress)
    reporter.report.remote(index, 1.0, "done")
    return arrays, dict(meta), hit


class _Reporter:
    """Each running chunk's last reported (fraction, message)."""

    def __init__(self) -> None:
        self.state: dict[int, tuple[float, str]] = {}

    def report(self, index: int, fraction: float, message: str) -> None:
        self.state[index] = (fraction, message)

    def read(self) -> dict[int, tuple[float, str]]:
        return self.state


def run_chunks(work, model, chunks: Sequence, *, model_id: str | None, cache: ResultCache | None,
               timing: str | None, progress) -> list[tuple[dict, dict, bool]]:
    """``core.studies.runner.run_chunks`` on the session's cluster: cached chunks read here, the others one
    task each, at most ``workers`` at once; (arrays, meta, from the cache) per chunk, in order."""
    import ray

    from core import timings
    from core.models.registry import recipe

    cluster = active()
    cluster.chunks += len(chunks)
    if model_id is None:
        raise InputError("A run on a Ray cluster needs the model's id, so that each worker loads the same model.")
    how = recipe(model_id)
    done: dict[int, tuple[dict, dict, bool]] = {}
    for k, chunk in enumerate(chunks):
        found = None if cache is None or chunk.key is None else cache.get(chunk.key)
        if found is not None:
            done[k] = (found.arrays, found.meta, True)
    waiting = [k for k in range(len(chunks)) if k not in done]
    task = ray.remote(_task).options(max_retries=RETRIES, retry_exceptions=False,
                                     **({"num_gpus": 1} if cluster.gpus else {"num_cpus": cluster.threads}))
    reporter = ray.remote(_Reporter).options(num_cpus=0).remote()
    cache_dir = None if cache is None else str(cache.directory)
    running: dict[Any, int] = {}

    def submit() -> None:
        while waiting and len(running) < cluster.workers:
            k = waiting.pop(0)
            c = chunks[k]
            # tensors travel from the CPU: a CUDA tensor's device may not exist on the worker
            running[task.remote(work, how, type(c)(_moved(c.args, _cpu), c.key, c.size, c.label), cache_dir,
                                cluster.threads, reporter, k)] = k

    try:
        submit()
        while running:
            finished, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
            for ref in finished:
                k = running.pop(ref)
                arrays, meta, hit = _result(ray, ref)
                chunk = chunks[k]
                if cache is not None and chunk.key is not None and chunk.key not in cache:
                    cache.put(chunk.key, arrays, meta)
                if not hit and cache is not None and chunk.key is not None and timing is not None:
                    timings.record(cache, timing, meta["seconds"], chunk.size)
                done[k] = (arrays, meta, hit)
            submit()
            if progress is not None:
                _report(progress, ray.get(reporter.read.remote()), done, [c.label for c in chunks])
    except KeyboardInterrupt:
        for ref in running:
            ray.cancel(ref, force=True)
        raise
    finally:
        ray.kill(reporter)
    return [done[k] for k in range(len(chunks))]


def _cpu(t):
    return t.detach().cpu()


def _result(ray, ref) -> tuple[dict, dict, bool]:
    """A task's result; an error raised in the task is raised here as itself (an InputError stays one)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause if isinstance(getattr(exc, "cause", None), Exception) else None
        if cause is not None:
            raise cause from None
        raise


def _report(progress, state: dict[int, tuple[float, str]], done: dict, labels: Sequence[str]) -> None:
    """One bar over all chunks: finished ones count whole, running ones by their last report."""
    n = len(labels)
    fraction = sum(1.0 if k in done else state.get(k, (0.0, ""))[0] for k in range(n)) / n
    latest = max((k for k in state if k not in done), default=None)
    message = labels[latest] + state[latest][1] if latest is not None else f"{len(done)} of {n} chunks done"
    progress(min(fraction, 1.0), message)
