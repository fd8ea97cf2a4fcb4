"""What the eXIAA page shows of one image attacked at one (alpha, top-k): the attack (``core.attacks.exiaa``,
through ``predict`` and ``explain`` alone), its Gaussian baseline on as many entries, every map, the figures
and the queries, as one record of CPU arrays; and the colour scales the page draws the maps on.

Scales: the original's explanation ``z`` on its own; the attack image's ``z_bar`` on its own (another image,
another class); the corrupted images' explanations on ``z``'s scale, so that what moved shows against the
original (the paper's comparison, eq. 2); each change map ``z_hat - z`` on its own.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from core.attacks.exiaa import exiaa, gaussian_injection
from core.explain.heatmap import ColourScale, heatmap, perturbation_image, scale_of
from core.metrics.manipulation import queries_per_attack
from core.studies.exiaa import BATCH_SIZE, PoolPass, StudyConfig, black_box, grid_figures, image_seed

WHO = {"ours": "eXIAA", "baseline": "Gaussian baseline"}
DEFAULTS = StudyConfig()


@dataclass(frozen=True)
class Corrupted:
    """One corrupted image (ours or the baseline): the image (C, H, W), its explanation for its own predicted
    class ``y_hat`` (C, H, W), its mask of changed entries (C, H, W) and its figures."""

    image: np.ndarray
    relevance: np.ndarray
    mask: np.ndarray
    y_hat: int
    figures: dict[str, float]


@dataclass(frozen=True)
class SingleAttack:
    """One image, one method, one (alpha, top-k): the original ``x`` and its explanation ``z`` for ``y_star``;
    the running-up class ``y_r``, the attack image (pool name, whether predicted as y_r) and its explanation
    for y_r; the injected entries m of the P positive ones; ours and the baseline; the attack's queries."""

    method: str
    params: dict[str, Any]
    alpha: float
    top_k: float
    x: np.ndarray
    z: np.ndarray
    y_star: int
    y_r: int
    p_star: float
    p_r: float
    attack_name: str
    in_class: bool
    x_bar: np.ndarray
    z_bar: np.ndarray
    positives: int
    entries: int
    corrupted: dict[str, Corrupted]
    queries: dict[str, float]
    seconds: float
    signed: bool

    def scales(self, percentile: float) -> dict[str, ColourScale]:
        """The scale of each map: ``z`` and ``z_bar`` on their own, every corrupted image's explanation on
        ``z``'s, each change on its own."""
        original = scale_of([heatmap(self.z[None])[0]], percentile, self.signed, "the original's scale")
        out = {"z": original, "z_bar": scale_of([heatmap(self.z_bar[None])[0]], percentile, self.signed)}
        for who in self.corrupted:
            out[who] = original
            out[f"{who}_change"] = scale_of([self.change(who)], percentile, True)
        return out

    def change(self, who: str) -> np.ndarray:
        """``z_hat - z`` summed over channels (H, W): red where the evidence grew, blue where it shrank."""
        return heatmap((self.corrupted[who].relevance - self.z)[None])[0]

    def difference(self, who: str) -> tuple[np.ndarray, float]:
        """The corrupted image minus the original, amplified (``perturbation_image``): (uint8 (H, W, C), factor)."""
        return perturbation_image(self.corrupted[who].image - self.x)

    def to_dict(self, class_names) -> dict[str, Any]:
        return {"method": self.method, "params": self.params, "alpha": self.alpha, "top_k": self.top_k,
                "y_star": class_names[self.y_star], "p_star": self.p_star, "y_r": class_names[self.y_r],
                "p_r": self.p_r, "attack_image": self.attack_name, "attack_image_predicted_as_y_r": self.in_class,
                "positive_entries": self.positives, "injected_entries": self.entries, "queries": self.queries,
                "seconds": self.seconds,
                **{who: {"figures": c.figures, "predicted": class_names[c.y_hat]} for who, c in self.corrupted.items()}}


def attack_one(model: nn.Module, x: torch.Tensor, digest: str, passed: PoolPass, method: str, alpha: float,
               top_k: float, config: StudyConfig = DEFAULTS, batch_size: int = BATCH_SIZE) -> SingleAttack:
    """eXIAA on the image ``x`` (1, C, H, W) at ``alpha`` and ``top_k`` by ``method`` (the parameters of
    ``config``), the attack image from the pool of ``passed``, beside the Gaussian baseline (``config``'s noise
    and seed) on as many entries, with the figures of both."""
    started = time.perf_counter()
    params = config.method_params(method, batch_size)
    predict, explain = black_box(model, method, params, batch_size)
    candidates = passed.candidates(x.device)
    attack = exiaa(x, predict, explain, candidates, alpha=alpha, top_k=top_k, exclude=passed.exclude([digest]))
    labels = attack.result.labels
    counts = labels["entries"][:, None]
    x_tilde, mask_tilde = gaussian_injection(x, counts, [alpha], [image_seed(config.seed, digest, 0)],
                                             config.noise_mean, config.noise_std)
    both = torch.cat([attack.result.x_adv, x_tilde[:, 0, 0]])
    p_x = predict(x)
    y_star, y_r = int(labels["y_star"][0]), int(labels["y_r"][0])
    z = explain(x, labels["y_star"])
    p_both = predict(both)
    z_both = explain(both, p_both.argmax(1))
    figures = grid_figures(x, p_x, y_star, z, both, p_both, z_both)
    masks = (attack.mask[0], mask_tilde[0, 0])
    corrupted = {who: Corrupted(both[i].cpu().numpy(), z_both[i].cpu().numpy(), masks[i].cpu().numpy(),
                                int(p_both[i].argmax()), {k: float(v[i]) for k, v in figures.items()})
                 for i, who in enumerate(WHO)}
    queries = queries_per_attack(attack.predict_queries, attack.explain_queries, x.shape[0], attack.pool_queries)
    return SingleAttack(
        method, params, alpha, top_k, x[0].cpu().numpy(), z[0].cpu().numpy(), y_star, y_r, float(p_x[0, y_star]),
        float(p_x[0, y_r]), passed.pool.names[int(labels["attack_index"][0])], bool(labels["in_class"][0]),
        attack.attack_images[0].cpu().numpy(), attack.attack_maps[0].cpu().numpy(),
        int((attack.attack_maps[0] > 0).sum()), int(labels["entries"][0]), corrupted, queries,
        time.perf_counter() - started, not (method == "saliency" and params.get("abs", True)))
