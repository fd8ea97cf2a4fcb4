"""Explore: a model, an image, its prediction, and relevance maps from several explainers side by side.

Thin page: loading, prediction and explanations come from ``core``; results live in
``st.session_state`` (so widget changes outside the form never recompute) and in the persistent cache.
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from core.explain import METHODS
from core.explain.explanation import Explanation, estimate_seconds, explain
from core.models import DEFAULT_MODEL, REGISTRY
from core.wording import class_label, file_safe
from dashboard.widgets.downloads import download_buttons, name_stem
from dashboard.widgets.explainers import METHOD_LABELS, method_params, params_summary, relevant_params
from dashboard.widgets.figures import (
    RELEVANCE_HELP,
    heatmap_figure,
    image_figure,
    probability_figure,
    row_cells,
    scale_percentile_slider,
    show,
)
from dashboard.widgets.images import pick_image
from dashboard.widgets.models import (
    c2f_decision,
    hierarchies_for,
    image_models,
    model_availability,
    model_label,
    model_picker,
    predictions,
)
from dashboard.widgets.runs import status_slot, visible_run
from dashboard.widgets.state import report_unfinished, result_cache

RESULTS = "explore_results"
MAP_CELL = 170  # px per picture: the input and four maps fit in a row at 1400 px, two at 1024 (row_cells)
NO_HIERARCHY = "none"  # the hierarchy choice that derives no coarse-to-fine classifier


def sidebar():
    """Model (and C2F hierarchy) and image pickers; returns the loaded model and image (or None)."""
    with st.sidebar:
        st.subheader("Model")
        available = model_availability()
        names = image_models()
        name = st.selectbox(
            "Model", names, index=names.index(DEFAULT_MODEL), key="explore_model",
            format_func=model_label(available),
            help="Models marked 'needs weights' have no weights on this machine: give a state-dict file below.",
        )
        st.caption(REGISTRY[name].description + ("" if available[name]["offline"] else
                                                 " · no offline weights on this machine"))
        choice = NO_HIERARCHY
        options = hierarchies_for(name)
        if options:  # "none" as a string: a None value kept across runs would show as no choice at all
            choice = st.selectbox(
                "Coarse-to-fine hierarchy", [NO_HIERARCHY, *options], key="explore_hierarchy",
                help="Derive a coarse-to-fine classifier: coarse score = log-sum-exp of its member classes' "
                     "logits, then the fine decision among the members of the chosen coarse class.",
            )
        hierarchy = None if choice == NO_HIERARCHY else choice
    loaded = model_picker(name, hierarchy, key="explore")  # a refusal shows in the main area
    refusal = st.empty()  # ... and so does an unusable image's
    with st.sidebar:
        st.subheader("Image")
        image = pick_image(loaded.info, key="explore_image", errors=refusal)
    return loaded, image


def prediction_row(loaded, image, preds, decision) -> None:
    """The model's input beside its top-5 (and, for a C2F model, its coarse and fine decisions)."""
    info = loaded.info
    cols = st.columns([1, 1.4, 1.4] if decision else [1, 2.8], gap="medium")
    with cols[0]:
        show(image_figure(image.to_uint8(), f"Model input ({info.input.size}×{info.input.size})", 280,
                          beside_heatmaps=False),
             key="explore_input")
    with cols[1]:
        show(probability_figure([class_label(p.name, p.index) for p in preds], [p.probability for p in preds],
                                "Top-5 predictions", height=280), key="explore_top5")
    if decision:
        h = info.hierarchy
        with cols[2]:
            st.markdown(f"Coarse decision: **{decision.coarse.name}** ({decision.coarse.prob:.1%})",
                        help="r = C(x): the coarse class with the largest log-sum-exp of its member logits.")
            st.markdown(f"Fine decision: **{decision.fine.name}** ({decision.fine.prob:.1%} within "
                        f"{decision.coarse.name})",
                        help="F^r(x): the most probable member of the coarse class r (softmax within the group).")
            show(probability_figure(h.coarse_names, decision.coarse_probs, "Coarse probabilities",
                                    highlight=decision.coarse.index, height=230), key="explore_coarse")
            if not any(preds[0].index in g for g in h.groups):
                st.caption(f"The flat top-1 ({preds[0].name}) belongs to no coarse class of {h.name}.")


def explain_form(loaded, preds, digest: str) -> tuple[bool, list[str], int, dict[str, dict[str, Any]]]:
    """Methods, their parameters and the target class; nothing runs until "Explain" is pressed."""
    info = loaded.info
    top = [p.index for p in preds]
    probability = {p.index: p.probability for p in preds}
    order = top + [i for i in range(len(info.class_names)) if i not in probability]
    with st.form("explore_form", border=True):
        left, right = st.columns([1.2, 1])
        methods = left.multiselect("Methods", list(METHODS), default=["lrp"], key="explore_methods",
                                   format_func=METHOD_LABELS.get,
                                   help="Each method gives one relevance map; they are shown side by side.")
        target = right.selectbox(
            "Target class (type to search all classes)", order, index=0,
            key=f"explore_target_{info.model_id}_{digest[:16]}",
            format_func=lambda i: (class_label(info.class_names[i], i)
                                   + (f" · {probability[i]:.1%}" if i in probability else "")),
            help="The class whose evidence is explained; the top-5 come first, default the top-1.",
        )
        params = {}
        for col, method in zip(st.columns(len(METHODS)), METHODS):
            with col.expander(f"{METHOD_LABELS[method]} parameters"):
                params[method] = method_params(method, key="explore")
        submitted = st.form_submit_button("Explain", type="primary", icon=":material/play_arrow:")
    return submitted, methods, int(target), params


def run_explanations(loaded, image, methods, target, params, context, slot) -> dict[str, Any]:
    """``core.explain`` per method, its status shown in ``slot`` (``visible_run``); errors are kept per
    method, not raised. Each finished map is stored at once, so a Stop keeps it."""
    cache = result_cache()
    estimates = [estimate_seconds(loaded, image, m, target, params[m], cache) for m in methods]
    estimate = None if None in estimates else sum(estimates)
    stored = {"explanations": [], "errors": {}, "target": target, "files": {}, "context": context}
    st.session_state[RESULTS] = stored
    what = f"{', '.join(METHOD_LABELS[m] for m in methods)} on {image.source_name or 'the upload'}"
    with visible_run(slot, "explore_run", what, estimate) as progress:
        for i, method in enumerate(methods):
            progress(i / len(methods), f"{METHOD_LABELS[method]} ({i + 1} of {len(methods)})")
            try:
                stored["explanations"].append(explain(loaded, image, method, target, params[method], cache))
            except ValueError as exc:  # InputError, UnsupportedError: the message says what to change
                stored["errors"][method] = str(exc)
    return stored


def results_section(results: dict[str, Any], image, preds) -> None:
    """The input and one heatmap per method, each on its own colour scale: methods measure relevance in
    other units (LRP's can be a millionth of saliency's), so on one scale some would look blank."""
    explanations: list[Explanation] = results["explanations"]
    for method, message in results["errors"].items():
        st.error(f"{METHOD_LABELS[method]}: {message}")
    if not explanations:
        return
    first = explanations[0]
    st.markdown(f"#### Relevance for **{first.target_name}** ({first.target})")
    left, right = st.columns([1, 1], vertical_alignment="bottom")
    left.caption(RELEVANCE_HELP + " Each map is on its own colour scale, written under it: the methods measure "
                 "relevance in different units, so compare patterns across methods, not colours.")
    with right:
        percentile = scale_percentile_slider("explore_scale_percentile")
    scales = [e.own_scale(percentile) for e in explanations]
    cols = row_cells([MAP_CELL] * (len(explanations) + 1))
    with cols[0]:
        show(image_figure(image.to_uint8(), "Input"), key="explore_result_input")
        st.caption(image.source_name or "upload")
    for i, (col, e, scale) in enumerate(zip(cols[1:], explanations, scales)):
        with col:
            show(heatmap_figure(e.heatmap, scale, METHOD_LABELS[e.method]), key=f"explore_map_{i}")
            summary = params_summary(e.params, relevant_params(e.method, e.params))
            timing = f"{e.seconds:.2f} s (cached)" if e.cached else f"{e.seconds:.2f} s"
            st.caption(f"**{METHOD_LABELS[e.method]}** · {summary} · {timing} · colour scale {scale.describe()}")
            files = results["files"].get((i, scale))
            if files is None:  # encoded once per map and scale, not on every rerun
                files = results["files"][(i, scale)] = e.files(preds, scale)
            with st.container(horizontal=True, gap="small"):
                download_buttons(files, f"{name_stem(e.image_name)}_{e.method}_{file_safe(e.target_name)}",
                                 key=f"explore_dl_{i}")


def main() -> None:
    st.title("Explore", anchor=False)
    slot = status_slot()  # a run's status line, at the top
    st.caption("Pick a model and an image in the sidebar, then explain the prediction with one or more methods.")
    loaded, image = sidebar()
    if image is None:
        st.info("Choose a gallery photo or upload a valid image in the sidebar.")
        return
    preds = predictions(loaded, image, k=5)
    decision = c2f_decision(loaded, image)
    prediction_row(loaded, image, preds, decision)

    context = (loaded.info.model_id, image.digest)
    stored = st.session_state.get(RESULTS)
    if stored is not None and stored["context"] != context:  # model or image changed
        del st.session_state[RESULTS]
        stored = None
    submitted, methods, target, params = explain_form(loaded, preds, image.digest)
    if submitted and not methods:
        st.warning("Choose at least one method.")
    elif submitted:
        stored = run_explanations(loaded, image, methods, target, params, context, slot)
    else:
        report_unfinished("explore_run_unfinished", "The maps that had finished are shown below.", slot)
    if stored is not None:
        results_section(stored, image, preds)


main()
