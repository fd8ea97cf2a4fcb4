"""The same C2F evaluation through Ray and in one process: ``python -m bench cluster``.

One local Ray session (2 CPUs) held for the whole benchmark, so its workers have loaded the model before
the timed rounds; the evaluation (``core.studies.c2f.evaluate``, every column, no cache) runs on
``--batch`` MNIST digits (default 32) in chunks of 4 with 1 worker and with 2 workers of 1 thread each,
against one process with 2 threads. Ratios above 1: Ray is slower. What it measures is the cost of the
tasks (sending chunks, results, progress) against splitting the work over processes instead of threads.
"""
from __future__ import annotations

import dataclasses

import torch

from bench.timing import Comparison, compare
from core.data.mnist import load_digits
from core.models import load
from core.studies import cluster
from core.studies.c2f import StudyConfig, evaluate

CHUNK = 4


def run(n: int, repeats: int, warmup: int) -> list[Comparison]:
    loaded = load("mnist_cnn", hierarchy="mnist_c2f", device="cpu")
    x = torch.cat([digit.tensor for digit in load_digits(n)])
    names = [str(i) for i in range(n)]
    config = StudyConfig()

    def evaluation():
        return evaluate(loaded.model, x, config, image_names=names, model_id=loaded.info.model_id, batch_size=CHUNK)

    def here():
        torch.set_num_threads(2)
        with cluster.running_on(None):
            return evaluation()

    comparisons = []
    with cluster.session("auto", workers=2, threads=1) as two:
        for workers in (1, 2):
            on = dataclasses.replace(two, workers=workers)

            def on_ray(on=on):
                with cluster.running_on(on):
                    return evaluation()

            comparisons.append(compare(on_ray, here, repeats, warmup,
                                       name=f"c2f on {n} digits: Ray, {workers} worker(s) x 1 thread",
                                       notes={"chunks_per_column": -(-n // CHUNK)}))
    return comparisons


def from_args(args) -> tuple[dict, list[Comparison], str]:
    """``python -m bench cluster``: --batch digits (default 32); the peer is one process with 2 threads."""
    n = args.batch or 32
    return ({"digits": n, "chunk": CHUNK, "model": "mnist_cnn + mnist_c2f", "ray_cpus": 2},
            run(n, args.repeats, args.warmup), "1 process x 2 threads")
