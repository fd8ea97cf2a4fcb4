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

from core.attacks.loop import Progress
from core.attacks.result import AttackResult
from core.data import LoadedImage, pixel_digest, to_uint8
from core.explain.heatmap import map_png, perturbation_image, png_bytes
from core.explain.lrp import LRPRules
from core.models import LoadedModel
from core.provenance import provenance
from core.serialize import dumps
from core.studies import c2f as study
from core.studies.c2f_view import GridMaps, Indices, LossTerms, Maps, NamedDecision, NamedLabels, lrp_maps
from core.studies.runner import sub_progress
from core.studies.table import column_slug
from core.wording import file_safe
from dashboard.c2f.settings import symbols
from dashboard.widgets.downloads import zip_bytes
from dashboard.widgets.state import result_cache


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
    amplified perturbations, per amplification switch) and ``files`` (the downloads, per display setting:
    percentile, one scale, one amplification) are made when first shown and kept here."""

    config: study.StudyConfig
    context: tuple
    rows: list[AttackRow]
    errors: list[str]
    pictures: dict[bool, list[tuple[np.ndarray, float]]] = field(default_factory=dict)
    files: dict[tuple[float, bool, bool], dict[str, bytes]] = field(default_factory=dict)


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
                   context: tuple, progress: Progress, keep: str | None = None) -> Comparison:
    """Every column of ``config`` on the one image (``run_column``, cached), then its maps after the attack,
    reported to ``progress``. With ``keep``, the comparison is kept in session state under that key from
    its first finished row on, so a run cut short (Stop) keeps the rows that finished."""
    info, hc = loaded.info, loaded.model
    x = image.tensor.to(loaded.device)
    runs = config.runs(labels.target)
    cache = result_cache()
    comparison = Comparison(config, context, [], [])
    rows, errors = comparison.rows, comparison.errors
    rules = config.lrp_rules()
    for i, (name, attack, params) in enumerate(runs):
        part = sub_progress(progress, i / len(runs), (i + 0.85) / len(runs), f"{name} ({i + 1}/{len(runs)}): ")
        progress(i / len(runs), f"{name} ({i + 1}/{len(runs)})…")
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
        if keep is not None:
            st.session_state[keep] = comparison
    progress(1.0, "done")
    return comparison


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
    "map_colour_scales": "each map PNG -> the colour scale it is drawn on: [low, high], signed or not, the "
                         "percentile of |value| and the maps that share it (scope); change maps are after minus before",
}


def comparison_files(stored: Comparison, loaded: LoadedModel, image: LoadedImage, labels: NamedLabels, level: str,
                     grid: list[GridMaps], pictures: list[tuple[np.ndarray, float]]) -> dict[str, bytes]:
    """One JSON and one NPZ for the whole comparison, a PNG of every map (``map_png``: on the scale the grid
    draws it on, with its colour bar; file names carry the class), perturbation and adversarial image, and
    a ZIP of all those PNGs. The JSON records each map PNG's colour scale."""
    s, _ = symbols(level)
    names = {which: file_safe(c.name) for which, c in zip(("org", "adv"), labels.pair(level))}
    x = image.tensor[0].cpu().numpy()
    arrays, pngs, scales = {"x": x}, {}, {}

    def maps(slug: str, kind: str, pair: Maps, pair_scales, title: str) -> None:
        for which, m, scale in zip(("org", "adv"), pair, pair_scales):
            arrays[f"{slug}_{kind}_{s}_{which}"] = m
            name = f"{slug}_{kind}_{s}_{which}_{names[which]}.png"
            what = "LRP" if kind == "lrp" else "change"
            pngs[name] = map_png(m, scale, f"{title} {what} {s}_{which}: {labels.pair(level)[which == 'adv'].name}")
            scales[name] = scale.to_dict()

    before = grid[0]
    maps("before", "lrp", before.maps, (before.scale,) * 2, "x:")
    attacks = []
    for row, row_maps, (picture, factor) in zip(stored.rows, grid[1:], pictures):
        slug, result = column_slug(row.name), row.result
        arrays |= {f"{slug}_x_adv": result.x_adv[0].cpu().numpy(), f"{slug}_delta": row.delta}
        maps(slug, "lrp", row_maps.maps, (row_maps.scale,) * 2, f"{row.name}:")
        maps(slug, "change", row_maps.changes, row_maps.change_scales, f"{row.name}:")
        decided = row.after.coarse if level == "coarse" else row.after.fine
        pngs |= {f"{slug}_perturbation_x{factor:.3g}.png": png_bytes(picture),
                 f"{slug}_adversarial_{file_safe(decided.name)}.png": png_bytes(row.adversarial)}
        labels_after = result.labels
        attacks.append({
            "column": row.name, "figures": row.figures, "seconds": row.seconds, "cached": row.cached,
            "perturbation_amplification": factor, "after": row.after.to_dict(),
            "fooled_after_8bit_rounding": row.fooled_8bit,
            "label_names": {"coarse_after": labels.coarse_names[int(labels_after["coarse_after"][0])],
                            "fine_after_within_r_org": labels.fine_names[int(labels_after["fine_after"][0])]},
            "colour_scale": row_maps.scale.to_dict(),
            "change_colour_scales": [scale.to_dict() for scale in row_maps.change_scales],
            "result": result.to_dict(),
        })
    report = provenance(loaded.info, loaded.device) | {
        "image": image.source_name, "image_digest": image.digest, "level": level,
        "labels": labels.to_dict(),
        "coarse_probabilities": dict(zip(labels.coarse_names, labels.coarse_probs)),
        "config": stored.config.__dict__, "before_colour_scale": before.scale.to_dict(),
        "map_colour_scales": scales,
        "relevance": {"method": "lrp", **stored.config.lrp_rules().params(), "summed_over": "channels"},
        "attacks": attacks,
        "label_notes": LABEL_NOTES,
    }
    npz = io.BytesIO()
    np.savez_compressed(npz, **arrays)
    return {"comparison.json": dumps(report).encode(), "comparison.npz": npz.getvalue(),
            "all_pngs.zip": zip_bytes(pngs), **pngs}
