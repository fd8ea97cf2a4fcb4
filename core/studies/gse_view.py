"""What the GSE page draws for one image, without Streamlit: each attack run on it (GSE, StrAttack, FWnucl, FBS
with a chosen p) and the pictures of the talk's Figure 3 (adversarial image, perturbed pixels in red over the
image, perturbation x5) with the class activation map beside them, and each attack's figures."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps
from torch import nn

from core.attacks.fbs import fbs
from core.attacks.fwnucl import fwnucl
from core.attacks.gse import gse
from core.attacks.result import AttackResult
from core.attacks.strattack import strattack
from core.data.images import to_uint8
from core.explain.cam import class_activation_map
from core.metrics import sparsity as S

NAMES = ("GSE", "StrAttack", "FWnucl", "FBS")
AMPLIFY = 5  # the talk's Figure 3: perturbations scaled by 5


def run_all(model: nn.Module, x: torch.Tensor, label: int, target: int | None, settings: dict[str, dict[str, Any]],
            progress=None) -> dict[str, AttackResult]:
    """Each attack of ``settings`` (name -> its keyword settings, in ``NAMES``' order) on the one image ``x``
    (1, C, H, W), timed (``AttackResult.seconds``)."""
    runners = {"GSE": gse, "StrAttack": strattack, "FWnucl": fwnucl, "FBS": fbs}
    y = torch.tensor([label], device=x.device)
    aim = None if target is None else torch.tensor([target], device=x.device)
    done = {}
    chosen = [n for n in NAMES if n in settings]
    for i, name in enumerate(chosen):
        def part(f, m, i=i, name=name):
            if progress is not None:
                progress((i + f) / len(chosen), f"{name}: {m}")
        started = time.perf_counter()
        result = runners[name](model, x, y, target=aim, progress=part, **settings[name])
        done[name] = AttackResult(result.name, result.x_adv, result.delta, result.success, result.iterations,
                                  result.params, result.labels, result.history, time.perf_counter() - started)
    return done


def red_pixels(x: torch.Tensor, delta: torch.Tensor) -> np.ndarray:
    """The image (C, H, W) in grey with every perturbed pixel red (H, W, 3) uint8."""
    grey = x.mean(0, keepdim=True).expand(3, -1, -1).clone()
    mask = delta.abs().sum(0) != 0
    red = torch.tensor([1.0, 0.0, 0.0], device=x.device).view(3, 1, 1).expand_as(grey)
    return to_uint8(torch.where(mask, red, grey))


def amplified(delta: torch.Tensor, factor: float = AMPLIFY) -> np.ndarray:
    """The perturbation (C, H, W) as ``clip(0.5 + factor delta)`` (H, W, C) uint8: grey where unchanged."""
    return to_uint8((0.5 + factor * delta).clamp(0, 1))


def cam_overlay(x: torch.Tensor, cam: torch.Tensor, share: float = 0.5) -> np.ndarray:
    """The map ``cam`` (H, W) in [0, 1] in jet colours over the image (C, H, W) in grey, (H, W, 3) uint8."""
    heat = colormaps["jet"](cam.detach().cpu().numpy())[..., :3]
    grey = x.detach().mean(0).cpu().numpy()[..., None]
    return (255 * ((1 - share) * grey + share * heat)).round().astype(np.uint8)


@dataclass(frozen=True)
class Figures:
    """One attack's figures on one image."""

    success: bool
    decision: int
    changed_pixels: int
    clusters: int
    l2: float
    d20: int
    seconds: float | None

    def text(self, class_name) -> str:
        verdict = "fooled" if self.success else "not fooled"
        return (f"**{verdict}**, now {class_name(self.decision)} · {self.changed_pixels} pixels in "
                f"{self.clusters} cluster(s) · l2 {self.l2:.2f} · $d_{{2,0}}$ {self.d20}"
                + (f" · {self.seconds:.1f} s" if self.seconds is not None else ""))


def figures_of(model: nn.Module, result: AttackResult) -> Figures:
    """Figures of a one-image result."""
    with torch.no_grad():
        decision = int(model(result.x_adv).argmax(1)[0])
    d = result.delta
    return Figures(bool(result.success[0]), decision, int(S.changed_pixels(d)[0]), int(S.clusters(d)[0]),
                   float(S.l2(d)[0]), int(S.d20(d)[0]) if min(d.shape[-2:]) >= S.PATCH else 0, result.seconds)


def cam_for(model: nn.Module, x: torch.Tensor, label: int) -> torch.Tensor:
    """The class activation map (H, W) of the image's own class (``core.explain.cam``)."""
    return class_activation_map(model, x, torch.tensor([label], device=x.device))[0]
