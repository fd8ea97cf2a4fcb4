"""The C2F page's single-image comparison: its records, its run (every attack of the settings through the
study's cached runner, then the maps after it), and the files it downloads as. The labels, maps, loss
terms and decisions come from ``core.studies.c2f_view``; labels and maps are memoised per model and image
(``st.cache_data``), so moving a display widget never reruns an LRP pass."""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import streamlit as st
import torch

from core.attacks.result import AttackResult
from core.data import LoadedImage, pixel_digest, to_uint8
from core.explain.heatmap import colorize, perturbation_image, png_bytes
from core.explain.lrp import LRPRules
from core.models import LoadedModel
from core.provenance import provenance
from core.serialize import dumps
from core.studies import c2f as study
from core.studies.c2f_view import Indices, LossTerms, NamedDecision, NamedLabels, lrp_maps
from core.studies.runner import sub_progress
from core.studies.table import column_slug
from dashboard.c2f.settings import symbols
from dashboard.widgets.downloads import progress_callback, zip_bytes
from dashboard.widgets.state import result_cache

Maps = tuple[np.ndarray, np.ndarray]  # the LRP maps (H, W) of the original and the adversarial class


@dataclass(frozen=True)
class AttackRow:
    """One attack on the image: its column name, attack and parameters, result and figures (``study.figures``
    over all images), the maps after it and their loss terms, the decision on the adversarial image, that
    image as uint8, whether it still fools once rounded to 8 bits (None unless it fooled), and the
    perturbation (C, H, W)."""

    name: str
    attack: str
    params: dict[str, Any]
    result: AttackResult
    figures: dict[str, float | None]
    maps: Maps
    terms: LossTerms
    after: NamedDecision
    adversarial: np.ndarray
    fooled_8bit: bool | None
    delta: np.ndarray

    @property
    def fooled(self) -> bool:
        return bool(self.result.success[0])

    @property
    def seconds(self) -> float | None:
        """How long the attack took when it ran (None for an entry cached before runs were timed)."""
        return self.result.seconds

    @property
    def cached(self) -> bool:
        return self.result.from_cache


@dataclass
class Comparison:
    """The last run on the page's image, for its ``context`` (model, image digest, level, LRP target): the
    settings, one row per attack that ran and the errors of those that could not; ``pictures`` (the
    amplified perturbations, per amplification switch) and ``files`` (the downloads, per colour scale and
    switch) are made when first shown and kept here."""

    config: study.StudyConfig
    context: tuple
    rows: list[AttackRow]
    errors: list[str]
    pictures: dict[bool, list[tuple[np.ndarray, float]]] = field(default_factory=dict)
    files: dict[tuple[float, bool], dict[str, bytes]] = field(default_factory=dict)


@st.cache_data(show_spinner=False, max_entries=64)
def image_labels(_loaded: LoadedModel, model_id: str, _image: LoadedImage, digest: str) -> NamedLabels:
    """``NamedLabels.of`` the image, once per model and image (``digest``)."""
    return NamedLabels.of(_loaded.model, _image.tensor.to(_loaded.device))


@st.cache_data(show_spinner=False, max_entries=256)
def relevance_maps(_loaded: LoadedModel, model_id: str, digest: str, _x: torch.Tensor, labels: Indices, level: str,
                   rules: LRPRules, p: float) -> tuple[Maps, LossTerms]:
    """``lrp_maps`` of ``_x`` (1, C, H, W), identified by ``digest``, for the labels' ``indices()``."""
    return lrp_maps(_loaded.model, _x.to(_loaded.device), labels, level, rules, p)


def run_comparison(loaded: LoadedModel, image: LoadedImage, labels: NamedLabels, config: study.StudyConfig,
                   context: tuple) -> Comparison:
    """Every column of ``config`` on the one image (``run_column``, cached), then its maps after the attack."""
    info, hc = loaded.info, loaded.model
    x = image.tensor.to(loaded.device)
    runs = config.runs()
    cache = result_cache()
    bar = st.progress(0.0, text="Starting…")
    progress = progress_callback(bar)
    rows, errors = [], []
    rules = config.lrp_rules()
    for i, (name, attack, params) in enumerate(runs):
        part = sub_progress(progress, i / len(runs), (i + 0.85) / len(runs), f"{name} ({i + 1}/{len(runs)}): ")
        progress(i / len(runs), f"{name} ({i + 1}/{len(runs)})…")
        if attack == "lrp" and labels.target is not None:
            params = params | {"target": labels.target}
        try:
            result = study.run_column(hc, x, attack, config.level, params, model_id=info.model_id,
                                      image_digests=[image.digest], cache=cache, batch_size=1, progress=part)
        except ValueError as exc:  # InputError: the message says what to change
            errors.append(f"{name}: {exc}")
            continue
        progress((i + 0.9) / len(runs), f"{name} ({i + 1}/{len(runs)}): relevance after the attack…")
        maps, terms = relevance_maps(loaded, info.model_id, pixel_digest(result.x_adv), result.x_adv,
                                     labels.indices(), config.level, rules, config.lrp_p)
        fooled_8bit = None  # asked only of a success: does it still fool once saved as an 8-bit PNG?
        if bool(result.success[0]):
            fooled_8bit = bool(study.survives_8bit(hc, result, config.level)[0])
        rows.append(AttackRow(name, attack, params, result, study.figures(result, x, "all"), maps, terms,
                              NamedDecision.of(hc, result.x_adv.to(loaded.device)), to_uint8(result.x_adv[0]),
                              fooled_8bit, result.delta[0].cpu().numpy()))
    progress(1.0, "Done")
    bar.empty()
    return Comparison(config, context, rows, errors)


def perturbation_pictures(rows: list[AttackRow], same: bool) -> list[tuple[np.ndarray, float]]:
    """Each row's amplified perturbation and factor; with ``same`` one factor for all (the largest |η|)."""
    peak = max(float(np.abs(row.delta).max()) for row in rows) if same else None
    return [perturbation_image(row.delta, peak) for row in rows]


LABEL_NOTES = {  # what the label fields of the comparison JSON mean
    "after": "the decisions on x+eta the page shows: the coarse class C(x+eta), then the fine class inside it",
    "label_names.fine_after_within_r_org": "F^{r_org}(x+eta): the fine decision inside the original coarse class "
                                           "r_org, the one a fine-level attack must change; after a coarse-level "
                                           "attack the image has left r_org, so this is not its fine class",
    "result.labels": "r_org, r_adv, coarse_after: coarse class indices; f_org, f_adv, fine_after: positions "
                     "within r_org's member list",
}


def comparison_files(stored: Comparison, loaded: LoadedModel, image: LoadedImage, labels: NamedLabels, level: str,
                     before_maps: Maps, scale: float, pictures: list[tuple[np.ndarray, float]],
                     percentile: float) -> dict[str, bytes]:
    """One JSON and one NPZ for the whole comparison, a PNG of every map, perturbation and image, and
    a ZIP of all those PNGs."""
    s, _ = symbols(level)
    x = image.tensor[0].cpu().numpy()
    arrays = {"x": x, f"before_lrp_{s}_org": before_maps[0], f"before_lrp_{s}_adv": before_maps[1]}
    pngs = {f"before_lrp_{s}_org.png": png_bytes(colorize(before_maps[0], scale)),
            f"before_lrp_{s}_adv.png": png_bytes(colorize(before_maps[1], scale))}
    attacks = []
    for row, (picture, factor) in zip(stored.rows, pictures):
        slug, result = column_slug(row.name), row.result
        arrays |= {f"{slug}_x_adv": result.x_adv[0].cpu().numpy(), f"{slug}_delta": row.delta,
                   f"{slug}_lrp_{s}_org": row.maps[0], f"{slug}_lrp_{s}_adv": row.maps[1]}
        pngs |= {f"{slug}_lrp_{s}_org.png": png_bytes(colorize(row.maps[0], scale)),
                 f"{slug}_lrp_{s}_adv.png": png_bytes(colorize(row.maps[1], scale)),
                 f"{slug}_perturbation_x{factor:.3g}.png": png_bytes(picture),
                 f"{slug}_adversarial.png": png_bytes(row.adversarial)}
        labels_after = result.labels
        attacks.append({
            "column": row.name, "figures": row.figures, "seconds": row.seconds, "cached": row.cached,
            "perturbation_amplification": factor, "after": row.after.to_dict(),
            "fooled_after_8bit_rounding": row.fooled_8bit,
            "label_names": {"coarse_after": labels.coarse_names[int(labels_after["coarse_after"][0])],
                            "fine_after_within_r_org": labels.fine_names[int(labels_after["fine_after"][0])]},
            "result": result.to_dict(),
        })
    report = provenance(loaded.info, loaded.device) | {
        "image": image.source_name, "image_digest": image.digest, "level": level,
        "labels": labels.to_dict(),
        "coarse_probabilities": dict(zip(labels.coarse_names, labels.coarse_probs)),
        "config": stored.config.__dict__, "colour_scale": {"symmetric_max": scale, "percentile": percentile},
        "relevance": {"method": "lrp", **stored.config.lrp_rules().params(), "summed_over": "channels"},
        "attacks": attacks,
        "label_notes": LABEL_NOTES,
    }
    npz = io.BytesIO()
    np.savez_compressed(npz, **arrays)
    return {"comparison.json": dumps(report).encode(), "comparison.npz": npz.getvalue(),
            "all_pngs.zip": zip_bytes(pngs), **pngs}
