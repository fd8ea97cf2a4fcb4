"""Overhead of ``core.explain.relevance`` against direct zennit and captum calls.

On one model and one batch, each method runs through our entry point (input checks, target
validation hook, model lock, composite choice) and through the library called directly with the
same rules or arguments. The two outputs are checked equal once before timing, so both sides do the
same work; the ratio median(ours) / median(direct) is the wrapper's overhead (target: <= 1.10).
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from captum.attr import DeepLiftShap, IntegratedGradients, Saliency
from zennit.attribution import Gradient
from zennit.composites import EpsilonPlusFlat
from zennit.rules import Pass

import core
from bench.timing import Comparison, compare, n_outputs, sync_for
from core import models
from core.explain import relevance
from core.explain.bounds import input_bounds
from core.explain.canonizers import default_canonizers
from core.explain.lrp import ZPlusZBox
from core.models.wrapper import Normalize

TARGET_RATIO = 1.10
MODEL = "efficientnet_lite0"
IG_STEPS = 16


@dataclass(frozen=True)
class Case:
    name: str
    ours: Callable[[], torch.Tensor]
    peer: Callable[[], torch.Tensor]
    peer_label: str


def _check_same(name: str, ours: torch.Tensor, peer: torch.Tensor) -> float:
    """Fails unless both contenders computed the same attribution; returns the largest difference."""
    if ours.shape != peer.shape:
        raise AssertionError(f"{name}: shapes differ, ours {tuple(ours.shape)} vs direct {tuple(peer.shape)}.")
    ours, peer = ours.detach(), peer.detach()
    scale = float(peer.abs().max())
    diff = float((ours - peer).abs().max())
    if not torch.allclose(ours, peer, rtol=1e-4, atol=1e-5 * max(scale, 1e-12)):
        raise AssertionError(f"{name}: ours and the direct call differ (max |diff| {diff:.3g}, "
                             f"max |peer| {scale:.3g}).")
    return diff


def cases(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> list[Case]:
    """Each method as (ours, direct) pairs of zero-argument callables on the same model and batch."""
    canonizer_types = [type(c) for c in default_canonizers(model)]  # fresh instances per call, as ours
    onehot = torch.zeros(x.shape[0], n_outputs(model, x), device=x.device).scatter_(1, target[:, None], 1.0)
    low, high = input_bounds(model)

    def zennit_direct(composite_factory: Callable[[], Any]) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            with Gradient(model, composite_factory()) as attributor:
                return attributor(x, onehot)[1]
        return run

    def epsilon_plus_flat():
        return EpsilonPlusFlat(epsilon=1e-6, layer_map=[(Normalize, Pass())], zero_params=None,
                               canonizers=[c() for c in canonizer_types])

    def zplus_zbox():
        return ZPlusZBox(low=low, high=high, layer_map=[(Normalize, Pass())], zero_bias=True,
                         canonizers=[c() for c in canonizer_types])

    black = torch.zeros_like(x)
    black_white = torch.cat([torch.zeros_like(x[:1]), torch.ones_like(x[:1])])
    return [
        Case("lrp epsilon_plus_flat",
             lambda: relevance(model, x, target, "lrp", composite="epsilon_plus_flat"),
             zennit_direct(epsilon_plus_flat), "zennit"),
        Case("lrp zplus_zbox",
             lambda: relevance(model, x, target, "lrp", composite="zplus_zbox"),
             zennit_direct(zplus_zbox), "zennit"),
        Case("saliency",
             lambda: relevance(model, x, target, "saliency"),
             lambda: Saliency(model).attribute(x, target=target, abs=True), "captum"),
        Case(f"integrated_gradients ({IG_STEPS} steps)",
             lambda: relevance(model, x, target, "integrated_gradients", baseline="black", n_steps=IG_STEPS),
             lambda: IntegratedGradients(model).attribute(x, baselines=black, target=target, n_steps=IG_STEPS,
                                                          method="gausslegendre", internal_batch_size=None),
             "captum"),
        Case("deeplift_shap (black_white)",
             lambda: relevance(model, x, target, "deeplift_shap", baselines="black_white"),
             lambda: DeepLiftShap(model).attribute(x, baselines=black_white, target=target), "captum"),
    ]


def run(batch: int = 8, repeats: int = 10, warmup: int = 2, device: str | torch.device | None = None,
        seed: int = 0, only: list[str] | None = None, log: Callable[[str], None] = print) -> list[Comparison]:
    """Time every case (or those whose name starts with one of ``only``); returns the comparisons."""
    dev = torch.device(device) if device is not None else core.device()
    model = models.load(MODEL, device=dev).model
    g = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.rand(batch, 3, 224, 224, generator=g).to(dev)
    target = torch.randint(0, 1000, (batch,), generator=g).to(dev)
    sync = sync_for(x)
    results = []
    with warnings.catch_warnings():
        # captum's per-call notices (input made to require grad, DeepLIFT hooks set): same on both sides
        warnings.filterwarnings("ignore", message=r"Input Tensor \d+ did not already require gradients")
        warnings.filterwarnings("ignore", message=r"Setting forward, backward hooks")
        for case in cases(model, x, target):
            if only and not any(case.name.startswith(o) for o in only):
                continue
            diff = _check_same(case.name, case.ours(), case.peer())
            log(f"  {case.name}: outputs match (max |diff| {diff:.2g}); timing {warmup} + {repeats} rounds ...")
            results.append(compare(case.ours, case.peer, repeats=repeats, warmup=warmup, name=case.name,
                                   target=TARGET_RATIO, sync=sync,
                                   notes={"peer": case.peer_label, "max_abs_diff": diff}))
    return results


def config(batch: int, device: str | torch.device | None) -> dict:
    """What the numbers depend on, stored with them."""
    from importlib.metadata import version

    dev = torch.device(device) if device is not None else core.device()
    return {"model": MODEL, "batch": batch, "image": [3, 224, 224], "device": str(dev),
            "ig_steps": IG_STEPS, "torch": torch.__version__, "zennit": version("zennit"),
            "captum": version("captum"), "threads": torch.get_num_threads(),
            "cuda_device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None}


__all__ = ["TARGET_RATIO", "cases", "config", "run"]


def from_args(args) -> tuple[dict, list[Comparison], str]:
    """``python -m bench explain``: batch 8 by default; the peer column is the direct call."""
    batch = args.batch or 8
    return config(batch, args.device), run(batch=batch, repeats=args.repeats, warmup=args.warmup,
                                           device=args.device), "direct"
