"""Speed of the attribute study's pieces: I-FGSM against torchattacks' BIM, and the digit measurement.

1. I-FGSM (``core.attacks.ifgsm``, eps 0.06, alpha 1/255, Kurakin's 20 steps) on mnist_cnn against
   ``torchattacks.BIM`` with the same settings on the same batch of test digits; both must give the same
   images (atol 1e-6). Target: ratio <= 1.05.
2. The digit measurement (``core.attributes.morphometry.measure``, batched over a mosaic of each chunk)
   against measuring the same digits one at a time (``chunk=1``, what a per-image loop over scikit-image and
   scipy does), on 200 digits; and, once, all 5,000 bundled digits (train and test), whose time must stay
   under 30 s on 2 CPU cores (reported in the notes, not a ratio).
"""
from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torchattacks

import core
from bench.timing import Comparison, compare, sync_for
from core import models
from core.attacks.ifgsm import ifgsm, kurakin_steps
from core.attributes.morphometry import measure
from core.data.mnist import mnist_split

EPS, ALPHA = 0.06, 1 / 255
IFGSM_TARGET = 1.05
MEASURE_TARGET = 1.0  # batched no slower than one at a time
ALL_DIGITS_SECONDS = 30.0
ATOL = 1e-6


def bench_ifgsm(batch, repeats, warmup, dev, log) -> Comparison:
    model = models.load("mnist_cnn", device=dev).model
    x, y = (t[:batch].to(dev) for t in mnist_split("test"))
    steps = kurakin_steps(EPS)
    peer_attack = torchattacks.BIM(model, eps=EPS, alpha=ALPHA, steps=steps)

    def ours():
        return ifgsm(model, x, y, eps=EPS, alpha=ALPHA, steps=steps).x_adv

    def peer():
        return peer_attack(x, y)

    diff = float((ours() - peer()).abs().max())
    if diff > ATOL:
        raise AssertionError(f"I-FGSM and torchattacks.BIM differ (max |diff| {diff:.3g} > {ATOL}).")
    log(f"  I-FGSM b{batch} x{steps}: same images as BIM (max |diff| {diff:.2g}); timing ...")
    c = compare(ours, peer, repeats=repeats, warmup=warmup, name=f"I-FGSM b{batch} x{steps} [torchattacks.BIM]",
                target=IFGSM_TARGET, sync=sync_for(x),
                notes={"peer": "torchattacks.BIM", "model": "mnist_cnn", "eps": EPS, "alpha": ALPHA,
                       "steps": steps, "max_abs_diff": diff})
    c.notes["summary"] = f"same images as BIM (max |diff| {diff:.2g})"
    return c


def bench_measure(repeats, warmup, log) -> Comparison:
    x = mnist_split("test")[0][:200]
    c = compare(lambda: measure(x), lambda: measure(x, chunk=1), repeats=repeats, warmup=warmup,
                name="measure 200 digits [one at a time]", target=MEASURE_TARGET,
                notes={"peer": "measure(x, chunk=1)", "digits": len(x)})
    every = torch.cat([mnist_split("train")[0], mnist_split("test")[0]])
    started = time.perf_counter()
    measure(every)
    seconds = time.perf_counter() - started
    verdict = "within" if seconds < ALL_DIGITS_SECONDS else "OVER"
    c.notes.update({"all_digits": len(every), "all_digits_seconds": seconds,
                    "summary": f"all {len(every)} digits in {seconds:.1f} s ({verdict} the {ALL_DIGITS_SECONDS:.0f} s "
                               f"budget, {torch.get_num_threads()} torch threads)"})
    log(f"  measure: {c.notes['summary']}")
    return c


def run(batch: int = 100, repeats: int = 5, warmup: int = 1, device=None,
        log: Callable[[str], None] = print) -> list[Comparison]:
    dev = torch.device(device) if device is not None else core.device()
    return [bench_ifgsm(batch, repeats, warmup, dev, log), bench_measure(max(1, repeats // 2), 0, log)]


def from_args(args) -> tuple[dict, list[Comparison], str]:
    """``python -m bench attributes``: I-FGSM on a batch of 100 digits by default, then the measurement."""
    batch = args.batch or 100
    config = {"batch": batch, "eps": EPS, "alpha": ALPHA, "device": str(args.device or core.device()),
              "torch": torch.__version__, "threads": torch.get_num_threads()}
    return config, run(batch, args.repeats, args.warmup, args.device), "peer"
