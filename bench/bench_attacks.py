"""Speed of ``core.attacks`` against torchattacks, and of an LRPC iteration against a PGD iteration.

Three comparisons, each a ratio median(ours) / median(peer) from ``bench.timing.compare``:

1. PGD (l_inf, eps 8/255, alpha 2/255, ``steps`` steps, no random start) on the flat
   EfficientNet-Lite0: ``core.attacks.pgd`` against ``torchattacks.PGD``. Ours works in
   channels-last layout on a CPU (``core.attacks.layout``); given the images in that layout,
   torchattacks must give the same iterates (atol 1e-6), so both do the same work. Timed against
   torchattacks given the images in the usual layout, as users call it (target: ratio <= 1.05), and,
   on a CPU, against torchattacks given channels-last images (no target, reported beside).
2. DeepFool (50 steps, overshoot 0.02, all classes as candidates) on a batch of 16:
   ``core.attacks.deepfool`` (batched over images and candidates) against ``torchattacks.DeepFool``
   (one image at a time, a backward pass per output). torchattacks builds the full Jacobian, so
   on the 1000-class flat EfficientNet it would take hours on a CPU; it runs on models with few
   outputs: the MNIST CNN (10 classes) and the coarse head of the ImageNet C2F EfficientNet
   (8 classes). The two differ in detail (torchattacks scales each step by 1 + overshoot and clips
   the iterate every step; ours scales the accumulated perturbation, as in the DeepFool paper, and
   adds 1e-4 to each step), so their outputs are not compared: success rates and l2 norms of both
   are reported next to the times instead. Target: ratio <= 0.20 (ours at least 5x faster).
3. One LRPC step (``LRPObjective.step``: LRP of r_org and r_adv with the poster's rules,
   differentiated through the explanation) against one PGDC step (``C2FObjective.step`` at the
   coarse level) on EfficientNet-Lite0 + imagenet_c2f, at the given batch and at batch 1, each in
   the layout its attack works in (PGDC channels-last on a CPU, LRPC the usual layout). Target: ratio <= 4.
   Where the LRPC step's time goes is profiled (top ops by self CPU time,
   listed with the run), and the FLOPs of its convolutions and matrix products are counted against
   the PGDC step's (``convolution_work``): the ratio the step cannot beat where convolutions dominate.

Images: random crops (seeded) of the six gallery photos; labels are the model's own predictions,
so every image is attacked by both contenders (torchattacks' DeepFool skips misclassified ones).

``quick``: the DeepFool comparisons run without warm-up and with one timed round each (one round of
torchattacks' DeepFool on the C2F coarse head takes minutes on a 2-core CPU); PGD and LRPC keep
``repeats`` and ``warmup``.
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torchattacks
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

import core
from bench.timing import Comparison, compare, n_outputs, sync_for
from core import models
from core.attacks.c2f import C2FLabels
from core.attacks.deepfool import deepfool
from core.attacks.layout import fast_layout
from core.attacks.lrp_c2f import POSTER_RULES, LRPObjective
from core.attacks.pgd import C2FObjective, pgd
from core.data import load_gallery
from core.data.gallery import gallery_names
from core.data.mnist import mnist_split
from core.explain.rules import fixed_weights

MODEL = "efficientnet_lite0"
HIERARCHY = "imagenet_c2f"
EPS, ALPHA = 8 / 255, 2 / 255
DEEPFOOL_BATCH, DEEPFOOL_STEPS, OVERSHOOT = 16, 50, 0.02
PGD_TARGET = 1.05
DEEPFOOL_TARGET = 0.20  # ours / torchattacks, i.e. at least 5x faster
LRPC_TARGET = 4.0
PROFILE_ROWS = 8
PGD_ATOL = 1e-6


def gallery_batch(n: int, seed: int = 0, size: int = 224, device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` seeded random ``size`` crops (and horizontal flips) of the gallery photos, cycled in order."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    photos = [load_gallery(name, size=256, crop_fraction=1.0).tensor for name in gallery_names()]
    crops = []
    for i in range(n):
        photo = photos[i % len(photos)]
        top, left = torch.randint(0, photo.shape[-1] - size + 1, (2,), generator=g).tolist()
        crop = photo[:, :, top:top + size, left:left + size]
        if torch.rand((), generator=g) < 0.5:
            crop = crop.flip(3)
        crops.append(crop)
    return torch.cat(crops).contiguous().to(device)


@torch.no_grad()
def _predict(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x).argmax(1)


def _keep_last(fn: Callable[[], Any], store: dict, key: str) -> Callable[[], Any]:
    """``fn`` that also remembers its latest result (the attacks are deterministic: any run's output)."""
    def run():
        store[key] = fn()
        return store[key]
    return run


@torch.no_grad()
def perturbation_facts(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, x_adv: torch.Tensor) -> dict:
    """Success rate (label changed) and l2 norms of ``x_adv - x`` (all images, and the fooled ones)."""
    fooled = model(x_adv).argmax(1) != y
    norms = (x_adv - x).flatten(1).norm(dim=1)
    return {"success_rate": float(fooled.float().mean()), "fooled": int(fooled.sum()), "images": len(y),
            "mean_l2": float(norms.mean()), "median_l2": float(norms.median()),
            "mean_l2_fooled": float(norms[fooled].mean()) if fooled.any() else None}


def _fmt_facts(f: dict) -> str:
    fooled = "-" if f["mean_l2_fooled"] is None else f"{f['mean_l2_fooled']:.3f}"
    return (f"success {f['fooled']}/{f['images']} ({f['success_rate']:.0%}), mean l2 {f['mean_l2']:.3f} "
            f"(fooled only {fooled}, median {f['median_l2']:.3f})")


# ---------------------------------------------------------------------------------------- 1. PGD

def bench_pgd(model, x, y, steps, repeats, warmup, sync, log) -> list[Comparison]:
    """Ours against torchattacks given the images as users hold them (the target), and against
    torchattacks given them in the layout ours works in (channels-last on a CPU), where both must
    give the same iterates."""
    def ours():
        return pgd(model, x, y, eps=EPS, alpha=ALPHA, steps=steps, random_start=False).x_adv

    peer_attack = torchattacks.PGD(model, eps=EPS, alpha=ALPHA, steps=steps, random_start=False)
    x_work = fast_layout(x)

    def peer():
        return peer_attack(x, y)

    def peer_same_layout():
        return peer_attack(x_work, y)

    a, b = ours(), peer()
    b_work = b if x_work is x else peer_same_layout()  # on a GPU the layouts are the same
    diff = float((a - b_work).abs().max())
    if not torch.allclose(a, b_work, rtol=0.0, atol=PGD_ATOL):
        raise AssertionError(f"PGD: ours and torchattacks (same layout) differ (max |diff| {diff:.3g} > {PGD_ATOL}).")
    moved = float(((a - b).abs() > PGD_ATOL).float().mean())  # where another summation order flipped a sign
    facts = perturbation_facts(model, x, y, a)
    agreement = (f"outputs equal in the same layout (max |diff| {diff:.2g}); against torchattacks on the "
                 f"usual layout {moved:.2%} of the input values differ")
    log(f"  PGD: {agreement}; {_fmt_facts(facts)}; timing {warmup} + {repeats} rounds ...")
    notes = {"peer": "torchattacks.PGD", "model": MODEL, "batch": len(x), "steps": steps, "eps": EPS,
             "alpha": ALPHA, "max_abs_diff_same_layout": diff, "fraction_differing_usual_layout": moved,
             "facts": facts}
    main = compare(ours, peer, repeats=repeats, warmup=warmup,
                   name=f"PGD b{len(x)} x{steps} steps [torchattacks.PGD]", target=PGD_TARGET, sync=sync,
                   notes=notes)
    main.notes["summary"] = f"{agreement}; {_fmt_facts(facts)}"
    if x_work is x:
        return [main]
    log("  PGD: against torchattacks given channels-last images ...")
    same = compare(ours, peer_same_layout, repeats=repeats, warmup=warmup,
                   name=f"PGD b{len(x)} x{steps} steps [torchattacks.PGD, channels-last input]", sync=sync,
                   notes=notes | {"peer": "torchattacks.PGD on channels-last input"})
    same.notes["summary"] = ("no target: what ours costs against torchattacks doing the same work in the same "
                             "layout (ours also checks the final iterate's success)")
    return [main, same]


# ----------------------------------------------------------------------------------- 2. DeepFool

def bench_deepfool(label: str, model, x, y, repeats, warmup, sync, log) -> Comparison:
    k = n_outputs(model, x)
    last: dict = {}
    ours = _keep_last(lambda: deepfool(model, x, y, steps=DEEPFOOL_STEPS, overshoot=OVERSHOOT, candidates=k - 1),
                      last, "ours")
    peer_attack = torchattacks.DeepFool(model, steps=DEEPFOOL_STEPS, overshoot=OVERSHOOT)
    peer = _keep_last(lambda: peer_attack(x, y), last, "peer")
    log(f"  DeepFool {label}: {k} classes, batch {len(x)}; timing {warmup} + {repeats} rounds "
        f"(no output check: the algorithms differ in detail) ...")
    started = time.perf_counter()
    c = compare(ours, peer, repeats=repeats, warmup=warmup,
                name=f"DeepFool {label} b{len(x)} [torchattacks.DeepFool]", target=DEEPFOOL_TARGET, sync=sync)
    ours_facts = perturbation_facts(model, x, y, last["ours"].x_adv) | {
        "iterations": last["ours"].iterations.tolist()}
    peer_facts = perturbation_facts(model, x, y, last["peer"])
    speedup = c.peer.median / c.ours.median
    c.notes.update({"peer": "torchattacks.DeepFool", "model": label, "classes": k, "candidates": k - 1,
                    "batch": len(x), "steps": DEEPFOOL_STEPS, "overshoot": OVERSHOOT, "speedup_peer_over_ours": speedup,
                    "ours_facts": ours_facts, "peer_facts": peer_facts,
                    "summary": f"{speedup:.1f}x faster; ours {_fmt_facts(ours_facts)}; "
                               f"torchattacks {_fmt_facts(peer_facts)}"})
    log(f"    done in {time.perf_counter() - started:.0f} s: {c.notes['summary']}")
    return c


# ---------------------------------------------------------------------- 3. LRPC step vs PGD step

def _objectives(hc, x):
    labels = C2FLabels.of(hc, x)
    lrp = LRPObjective(hc, labels, "coarse", 2.0, POSTER_RULES)  # lrp_c2f's defaults
    return lrp, C2FObjective(hc, labels, "coarse", 1.0)


def bench_steps(hc, x, repeats, warmup, sync, log) -> Comparison:
    """Times one LRPC step against one PGDC step, each as its attack runs it (LRPC inside
    ``fixed_weights``, PGDC in ``fast_layout``), and counts their convolution work."""
    lrp, pgdc = _objectives(hc, x)
    rows = torch.arange(len(x), device=x.device)
    x_pgdc = fast_layout(x)
    ours, peer = (lambda: lrp.step(x, rows)), (lambda: pgdc.step(x_pgdc, rows))
    log(f"  LRPC step vs PGDC step, batch {len(x)}: timing {warmup} + {repeats} rounds ...")
    c = compare(ours, peer, repeats=repeats, warmup=warmup, name=f"LRPC step b{len(x)} [PGDC step]",
                target=LRPC_TARGET, sync=sync,
                notes={"peer": "PGDC step (C2FObjective.step, coarse)", "model": f"{MODEL}+{HIERARCHY}",
                       "batch": len(x), "lrpc": {"p": 2.0, **POSTER_RULES.params()}})
    work = convolution_work(ours) / convolution_work(peer)
    c.notes["convolution_work_ratio"] = work
    c.notes["summary"] = f"LRPC step = {c.ratio:.2f} PGDC steps (convolution work alone: {work:.2f})"
    return c


class _FlopCount(TorchDispatchMode):
    """Adds up the FLOPs of every operator torch's flop counter knows (convolutions, matrix products).
    FlopCounterMode itself hooks the modules, which autograd.grad with inputs= refuses."""

    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.flops += count(*args, **kwargs, out_val=out)
        return out


def convolution_work(step: Callable[[], Any]) -> int:
    """FLOPs of the convolutions and matrix products in one call of ``step``."""
    with _FlopCount() as counter:
        step()
    return counter.flops


def profile_lrpc(hc, x, sync, log) -> dict:
    """Top ops by self CPU time of one LRPC step (after one warm-up step)."""
    from torch.profiler import ProfilerActivity, profile

    lrp, _ = _objectives(hc, x)
    rows = torch.arange(len(x), device=x.device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if x.is_cuda else [])
    lrp.step(x, rows)  # warm-up
    with profile(activities=activities) as prof:
        lrp.step(x, rows)
        if sync is not None:
            sync()
    events = list(prof.key_averages())
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:PROFILE_ROWS]
    ops = [{"op": e.key, "self_cpu_ms": e.self_cpu_time_total / 1e3,
            "self_cpu_pct": 100 * e.self_cpu_time_total / total,
            "cpu_total_ms": e.cpu_time_total / 1e3, "calls": e.count} for e in top]
    lines = [f"  LRPC step profile, batch {len(x)} (profiled step: {total / 1e6:.2f} s self CPU over all ops):",
             f"    {'op':<40} {'self ms':>9} {'self %':>7} {'total ms':>9} {'calls':>6}"]
    lines += [f"    {o['op'][:40]:<40} {o['self_cpu_ms']:9.1f} {o['self_cpu_pct']:6.1f}% "
              f"{o['cpu_total_ms']:9.1f} {o['calls']:6d}"
              for o in ops]
    log("\n".join(lines))
    return {"batch": len(x), "self_cpu_total_s": total / 1e6, "top_ops": ops}


# -------------------------------------------------------------------------------------------- run

def run(batch: int = 4, repeats: int = 10, warmup: int = 2, device: str | torch.device | None = None,
        steps: int = 10, quick: bool = False, seed: int = 0, only: list[str] | None = None,
        log: Callable[[str], None] = print) -> list[Comparison]:
    """All comparisons (or those whose kind is in ``only``: "pgd", "deepfool", "lrpc"), in one run."""
    dev = torch.device(device) if device is not None else core.device()
    df_repeats, df_warmup = (1, 0) if quick else (repeats, warmup)
    def want(kind: str) -> bool:
        return not only or kind in only

    results: list[Comparison] = []
    x = gallery_batch(max(batch, DEEPFOOL_BATCH), seed=seed, device=dev)
    sync = sync_for(x)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*backward hook.*")  # zennit's full backward hooks notice
        if want("pgd"):
            flat = models.load(MODEL, device=dev).model
            xb = x[:batch]
            results += bench_pgd(flat, xb, _predict(flat, xb), steps, repeats, warmup, sync, log)
            del flat
        hc = models.load(MODEL, hierarchy=HIERARCHY, device=dev).model if want("deepfool") or want("lrpc") else None
        if want("deepfool"):
            mnist = models.load("mnist_cnn", device=dev).model
            xm = mnist_split("test")[0][:DEEPFOOL_BATCH].to(dev)
            results.append(bench_deepfool("mnist_cnn", mnist, xm, _predict(mnist, xm), df_repeats, df_warmup,
                                          sync, log))
            xc = x[:DEEPFOOL_BATCH]
            results.append(bench_deepfool(f"{HIERARCHY} coarse", hc.coarse, xc, _predict(hc.coarse, xc),
                                          df_repeats, df_warmup, sync, log))
        if want("lrpc"):
            with fixed_weights():  # as in lrp_c2f: each layer's LRP kernels prepared once
                for b in dict.fromkeys((batch, 1)):
                    results.append(bench_steps(hc, x[:b], repeats, warmup, sync, log))
                profile = profile_lrpc(hc, x[:batch], sync, log)
            main = next(c for c in results if c.name.startswith(f"LRPC step b{batch} "))
            main.notes["profile"] = profile
            top = ", ".join(f"{o['op']} {o['self_cpu_pct']:.0f}%" for o in profile["top_ops"][:4])
            main.notes["summary"] += f"; top self-CPU ops: {top}"
    return results


def config(batch: int, device: str | torch.device | None, steps: int, quick: bool) -> dict:
    """What the numbers depend on, stored with them."""
    from importlib.metadata import version

    dev = torch.device(device) if device is not None else core.device()
    return {"model": MODEL, "hierarchy": HIERARCHY, "batch": batch, "pgd_steps": steps, "eps": EPS, "alpha": ALPHA,
            "deepfool_batch": DEEPFOOL_BATCH, "deepfool_steps": DEEPFOOL_STEPS, "overshoot": OVERSHOOT,
            "quick": quick,
            "images": "seeded random 224 crops of the gallery photos; MNIST test[:16] (digits 0-9 interleaved)",
            "labels": "model predictions", "lrpc": {"p": 2.0, **POSTER_RULES.params()}, "device": str(dev),
            "torch": torch.__version__,
            "torchattacks": version("torchattacks"), "zennit": version("zennit"),
            "threads": torch.get_num_threads(),
            "cuda_device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None}


__all__ = ["DEEPFOOL_TARGET", "LRPC_TARGET", "PGD_TARGET", "config", "gallery_batch", "perturbation_facts",
           "profile_lrpc", "run"]


def from_args(args) -> tuple[dict, list[Comparison], str]:
    """``python -m bench attacks``: batch 4 by default, ``--steps`` PGD steps, ``--quick`` DeepFool rounds."""
    batch = args.batch or 4
    comparisons = run(batch=batch, repeats=args.repeats, warmup=args.warmup, device=args.device, steps=args.steps,
                      quick=args.quick)
    return config(batch, args.device, args.steps, args.quick), comparisons, "peer"
