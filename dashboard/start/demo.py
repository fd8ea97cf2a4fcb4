"""The start page's classroom demo: coffee on EfficientNet-Lite0 with the imagenet_c2f hierarchy at the
coarse level, LRPC at ε = 10 beside DeepFool and PGD (``core.studies.c2f_view.DEMO_CONFIG``), run as the
C2F page runs a comparison (``run_comparison``: ``run_column`` through the persistent result cache, so a
second run reads every attack from it), then drawn step by step with the comparison grid, a sentence
under each step (``demo_steps``) saying what to look at."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from core.data import LoadedImage, load_gallery
from core.explain.heatmap import DEFAULT_PERCENTILE
from core.models import LoadedModel
from core.studies import c2f as study
from core.studies.c2f_view import (
    DEMO_CONFIG,
    DEMO_HIERARCHY,
    DEMO_IMAGE,
    DEMO_MODEL,
    DemoRow,
    LossTerms,
    Maps,
    NamedLabels,
    demo_steps,
    grid_maps,
)
from dashboard.c2f.comparison import Comparison, image_labels, perturbation_pictures, relevance_maps, run_comparison
from dashboard.c2f.sections import comparison_grid, scales_caption
from dashboard.widgets.figures import image_figure, probability_figure, show
from dashboard.widgets.models import load_model
from dashboard.widgets.runs import visible_run
from dashboard.widgets.state import result_cache

LEVEL = DEMO_CONFIG.level


@dataclass
class Demo:
    """The demo's run, kept in session state: the model, image and labels, the maps before the attacks and
    the comparison (its attacks from the result cache once they ran)."""

    loaded: LoadedModel
    image: LoadedImage
    labels: NamedLabels
    before: Maps
    before_terms: LossTerms
    comparison: Comparison


@st.cache_data(show_spinner=False, max_entries=4)
def _photo(name: str, size: int, crop_fraction: float, channels: int) -> LoadedImage:
    return load_gallery(name, size=size, crop_fraction=crop_fraction, channels=channels)


def run_demo(status) -> Demo:
    """Loads the model and photo, and runs the comparison (attacks from the cache once run), its progress on
    the status line in ``status`` (``visible_run``)."""
    with st.spinner(f"Loading {DEMO_MODEL}…"):
        loaded = load_model(DEMO_MODEL, DEMO_HIERARCHY)
    info = loaded.info
    image = _photo(DEMO_IMAGE, **info.input.loading())
    labels = image_labels(loaded, info.model_id, image, image.digest)
    estimate = study.estimate_seconds(DEMO_CONFIG, model_id=info.model_id, image_digests=[image.digest],
                                      cache=result_cache(), batch_size=1)
    with visible_run(status, "start_demo", "The classroom demo", estimate) as progress:
        before, before_terms = relevance_maps(loaded, info.model_id, image.digest, image.tensor, labels.indices(),
                                              LEVEL, DEMO_CONFIG.lrp_rules(), DEMO_CONFIG.lrp_p)
        context = (info.model_id, image.digest, LEVEL, None)
        comparison = run_comparison(loaded, image, labels, DEMO_CONFIG, context, progress)
    return Demo(loaded, image, labels, before, before_terms, comparison)


def show_demo(demo: Demo, key: str) -> None:
    """The demo's steps: a title, the pictures (the photo and its decision, then rows of the grid, each on its
    own colour scales) and the sentence on what to look at."""
    stored, labels = demo.comparison, demo.labels
    for message in stored.errors:
        st.error(message)
    rows = stored.rows
    grid = grid_maps(demo.before, [(row.name, row.maps) for row in rows], DEFAULT_PERCENTILE)
    if False not in stored.pictures:
        stored.pictures[False] = perturbation_pictures(rows, False)
    told = [DemoRow(row.name, row.attack, row.fooled, row.after, float(np.linalg.norm(row.delta)),
                    tuple(float(m.sum()) for m in row.maps)) for row in rows]
    steps = demo_steps(labels, tuple(float(m.sum()) for m in demo.before), told)
    for i, step in enumerate(steps, start=1):
        st.markdown(f"##### {i}. {step.title}")
        if step.rows:
            comparison_grid(labels, demo.image, LEVEL, rows, grid, stored.pictures[False], demo.before_terms,
                            key=f"{key}_grid{i}", shown=step.rows)
        else:
            photo, chart = st.columns([1, 2])
            with photo:
                show(image_figure(demo.image.to_uint8(), "What the model sees", 240, beside_heatmaps=False),
                     key=f"{key}_photo")
            with chart:
                show(probability_figure(labels.coarse_names, labels.coarse_probs, "Its coarse decision",
                                        highlight=labels.r_org.index, height=240), key=f"{key}_probs")
        st.markdown(f":material/visibility: {step.look}")
    st.caption(scales_caption(grid))
