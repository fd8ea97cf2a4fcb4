"""Speed of GSE against StrAttack and FWnucl on the same images in one run, and of batched GSE against GSE one
image at a time (issue 26, item 8). Each a ratio median(ours) / median(peer) from ``bench.timing.compare``:

1. GSE against our StrAttack on the same MNIST test digits, both at the study's settings (``core.studies.gse``:
   GSE's MNIST preset, StrAttack's 200 iterations x 8 search steps from c = 2.5). Target: ratio <= 0.5 (the talk:
   "significantly faster"), at equal or better ASR (both ASRs are in the notes; ``asr_ok`` says whether GSE's
   is at least StrAttack's).
2. GSE against FWnucl (200 iterations, golden-section line search, the code's) on the same digits: no target.
3. GSE on a batch of 32 digits against the same 32 one at a time, per image. Target: ratio <= 0.2 (batched at
   least 5x faster).

``--batch`` sets the digits of 1 and 2 (default 16); ``--quick`` takes one timed round and no warm-up.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

import core
from bench.timing import Comparison, compare, sync_for
from core.attacks.fwnucl import fwnucl
from core.attacks.gse import gse
from core.attacks.strattack import strattack
from core.data.mnist import mnist_split
from core.models import load
from core.studies.gse import StudyConfig

STRATTACK_TARGET = 0.5
BATCHED_TARGET = 0.2
BATCHED = 32


def _digits(n: int, device) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    model = load("mnist_cnn", device=device).model
    x = mnist_split("test")[0][:n].to(device)
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


def _kept(fn: Callable, store: dict, key: str) -> Callable:
    def call():
        store[key] = fn()
        return store[key]
    return call


def run(batch: int = 16, repeats: int = 3, warmup: int = 1, device=None, log: Callable[[str], None] = print
        ) -> list[Comparison]:
    dev = torch.device(device) if device is not None else core.device()
    model, x, y = _digits(max(batch, BATCHED), dev)
    sync = sync_for(x)
    study = StudyConfig()
    xb, yb = x[:batch], y[:batch]
    last: dict = {}
    ours = _kept(lambda: gse(model, xb, yb), last, "gse")
    results = []
    peers = {"StrAttack": lambda: strattack(model, xb, yb, **study.params("strattack")),
             "FWnucl": lambda: fwnucl(model, xb, yb, **study.params("fwnucl"))}
    for name, peer in peers.items():
        c = compare(ours, _kept(peer, last, name), repeats, warmup, sync=sync, name=f"GSE vs {name} b{batch}",
                    target=STRATTACK_TARGET if name == "StrAttack" else None)
        asr = {k: float(last[k].success.float().mean()) for k in ("gse", name)}
        c.notes.update({"asr_gse": asr["gse"], f"asr_{name.lower()}": asr[name], "asr_ok": asr["gse"] >= asr[name],
                        "summary": f"ASR GSE {asr['gse']:.2f}, {name} {asr[name]:.2f}"})
        log(f"{c.name}: ratio {c.ratio:.3f}; {c.notes['summary']}")
        results.append(c)
    xs, ys = x[:BATCHED], y[:BATCHED]
    def one_by_one():
        return [gse(model, xs[i:i + 1], ys[i:i + 1]) for i in range(BATCHED)]

    batched = compare(lambda: gse(model, xs, ys), one_by_one, repeats, warmup, sync=sync,
                      name=f"GSE batch {BATCHED} vs one at a time", target=BATCHED_TARGET,
                      notes={"summary": f"{BATCHED} digits per round, both"})
    log(f"{batched.name}: ratio {batched.ratio:.3f}")
    return results + [batched]


def config(batch: int, device) -> dict:
    dev = torch.device(device) if device is not None else core.device()
    return {"model": "mnist_cnn", "images": "MNIST test digits (first N), labels: the model's decisions",
            "batch": batch, "batched": BATCHED, "study_settings": StudyConfig().params("strattack")
            | {"fwnucl": StudyConfig().params("fwnucl")}, "device": str(dev), "torch": torch.__version__,
            "threads": torch.get_num_threads()}


def from_args(args) -> tuple[dict, list[Comparison], str]:
    """``python -m bench gse``."""
    batch = args.batch or 16
    repeats, warmup = (1, 0) if args.quick else (args.repeats, args.warmup)
    return config(batch, args.device), run(batch, repeats, warmup, args.device), "peer"
