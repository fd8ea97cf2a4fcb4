"""Coarse-to-fine attacks: LRPC/LRPF beside DeepFool and PGD on a C2F model (the LRP poster, seed 000).

Thin page script: the labels, maps and verdicts come from ``core`` (``core.studies.c2f``, ``c2f_view``).
The single-image comparison is ``dashboard.c2f.comparison`` (records, run, files) drawn by
``dashboard.c2f.sections``; its attack results come from the persistent result cache, and the last
comparison of each level lives in ``st.session_state`` (dropped when the model or the image changes), so
moving a display widget never reruns an attack. The settings form is ``dashboard.c2f.settings``; the
"reproduce the table" section ``dashboard.c2f.table``.
"""
from __future__ import annotations

import streamlit as st

from core.data import LoadedImage
from core.metrics import blank_images
from core.models import DEFAULT_MODEL, REGISTRY, LoadedModel
from core.studies import c2f as study
from dashboard.c2f.comparison import Comparison, image_labels, relevance_maps, run_comparison
from dashboard.c2f.sections import display_settings, results_section, target_picker
from dashboard.c2f.settings import DEFAULT_CONFIG, LEVELS, attack_settings
from dashboard.c2f.table import table_section
from dashboard.widgets.images import pick_image
from dashboard.widgets.models import hierarchies_for, model_availability, model_label, model_picker, predictions
from dashboard.widgets.runs import status_slot, visible_run
from dashboard.widgets.state import report_unfinished, result_cache

RESULTS = "c2f_results"
OTHER_LEVEL = "c2f_results_other_level"  # results of the other level or target, for a switch back
UNFINISHED = "c2f_unfinished"  # the run under way (visible_run "c2f" marks it)
DEFAULT_IMAGE = "coffee"  # in the imagenet_c2f hierarchy (food); the gallery cat belongs to no coarse class

HELP = r"""
**The labels.** The coarse classifier $C$ decides a coarse class $r_{org} = C(x)$; its runner-up
$r_{adv}$ (the most probable *other* coarse class) is the class the LRP attack builds evidence for. The fine
classifier of that coarse class, $F^{r_{org}}$, decides $f_{org}$ among the members of $r_{org}$; its
runner-up $f_{adv}$ (within $r_{org}$) plays that part at the fine level. The runner-up is the poster's
choice: under the level you can aim the LRP attack at another class instead (the maps are then of that
class, and success still means the label changed). DeepFool and PGD are untargeted:
they may take the image to any other class. After every attack the maps are still those of the labels
from before it, $r_{org}$ and $r_{adv}$ (or $f_{org}$ and $f_{adv}$), whatever class the image went to.

**The LRP attack.** With $R_{org} = \mathrm{LRP}_C(x+\eta;\, r_{org})$ and
$R_{adv} = \mathrm{LRP}_C(x+\eta;\, r_{adv})$, LRPC minimises
$\|R_{org}^+\|_p - \|R_{adv}^+\|_p - \|R_{org}^-\|_p + \|R_{adv}^-\|_p$: it removes the evidence *for*
$r_{org}$ and builds evidence for $r_{adv}$ (and the reverse for the evidence against them), with every
pixel changed by at most $\varepsilon/255$; the image is fooled when $C(x+\eta) \ne r_{org}$. LRPF does the same on
$F^{r_{org}}$ with $f_{org}$, $f_{adv}$, and counts only if the coarse class stays $r_{org}$.
DeepFool (DFC/DFF) takes the smallest linearised step over the nearest decision boundary; PGD (PGDC/PGDF)
takes signed gradient steps that raise the cross-entropy of the original class within its budget (PGDF
also keeps the coarse class). All count a success the same way: the decision changes (at the fine level,
within the same coarse class).

**The maps.** Relevance by the poster's rules: $z^+$ in the hidden layers, $z^\beta$ (ZBox) at the input
(composite `zplus_zbox`), summed over colour channels. Red pixels speak for the class named above the map,
blue ones against it, white ones not at all. Each row of the grid has its own colour scale (its two maps share
one; each change map has its own), so every row's pattern shows, DeepFool's tiny changes too; their ends are
written in the row. Switch on "One scale for all rows" to compare strengths across rows (weak rows then look
pale). The change maps are the map after the attack minus the map before it: red where the evidence grew,
blue where it shrank. With $z^+$ rules the maps of two classes often look alike ($z^+$ is little
class-selective): compare their strength, and how it moves after each attack.

**The loss.** Under each map: its total relevance, and the norms $\|R^+\|_p$, $\|R^-\|_p$ of its positive and
negative parts over all pixels and channels, the four terms of the loss; each row gives the loss before → after
its attack (LRPC/LRPF lower it). The total can rise while the loss falls: the loss weighs the two classes' maps
against each other. $z^+$ and the input layer's $z^\beta$ pass relevance down with the sign it starts with (the
class's logit): their terms $x^+w^+$, $x^-w^-$ and $(x-l)\,w^+ + (x-h)\,w^-$ are never negative. So each map
has one sign: $\|R^-\|_p = 0$ where the logit is positive (no pixel speaks against the class), and the whole
map is negative where it is negative.

**The numbers.** For this image $\rho_p = \|\eta\|_p / \|x\|_p$ ($p$ = 2, 1, ∞); the poster's table averages
them over a data set. Being relative to the image, $\rho_\infty$ exceeds $\varepsilon/255$ where the image's
brightest value is below 1, although $\|\eta\|_\infty \le \varepsilon/255$ always holds. The perturbation is
shown amplified (grey = no change), with the factor in its row:
by default each by its own factor, to see its pattern; switch on one factor for all to compare strengths.
"""


@st.cache_data(show_spinner=False)
def _c2f_models() -> dict[str, list[str]]:
    """Models that LRP supports and that have a shipped hierarchy -> those hierarchies (default first)."""
    out = {}
    for name, spec in REGISTRY.items():
        options = hierarchies_for(name) if spec.lrp_supported else []
        if options:
            out[name] = options
    return dict(sorted(out.items(), key=lambda item: item[0] != DEFAULT_MODEL))


def sidebar() -> tuple[LoadedModel, LoadedImage | None]:
    """Model (only those with a shipped hierarchy), hierarchy and image; returns (loaded, image or None)."""
    with st.sidebar:
        st.subheader("Model")
        models = _c2f_models()
        available = model_availability()
        name = st.selectbox(
            "Model", list(models), key="c2f_model",
            format_func=model_label(available),
            help="Models with a shipped coarse-to-fine hierarchy that LRP supports. mnist_cnn with mnist_c2f "
                 "runs in seconds (good for teaching); efficientnet_lite0 with imagenet_c2f is the "
                 "ImageNet version (one to a few minutes per comparison on a CPU).")
        st.caption(REGISTRY[name].description)
        hierarchy = st.selectbox(
            "Coarse-to-fine hierarchy", models[name], key="c2f_hierarchy",
            help="Coarse score = log-sum-exp of the member classes' logits; the fine decision is taken among "
                 "the members of the chosen coarse class.")
    loaded = model_picker(name, hierarchy, key="c2f")  # a refusal shows in the main area
    refusal = st.empty()  # ... and so does an unusable image's
    with st.sidebar:
        h = loaded.info.hierarchy
        st.caption(f"{h.num_coarse} coarse classes: {', '.join(h.coarse_names)}.")
        st.subheader("Image")
        image = pick_image(loaded.info, key="c2f_image", default=DEFAULT_IMAGE, errors=refusal)
    return loaded, image


def attack_form(level: str) -> tuple[bool, study.StudyConfig | None]:
    """The single-image attack form: (run now?, its config); warns where the settings are incomplete."""
    with st.form("c2f_form", border=True):
        config, problem = attack_settings("c2f", level)
        submitted = st.form_submit_button("Run attacks", type="primary", icon=":material/play_arrow:")
    if submitted and config is None:
        st.warning(problem)
    return submitted and config is not None, config


def _results_for(context: tuple) -> Comparison | None:
    """The shown results if they are of ``context`` (model, image digest, level, LRP target). When only the
    level or the target changed, the other results are kept aside, so switching back shows them again."""
    stored = st.session_state.get(RESULTS)
    if stored is not None and stored.context == context:
        return stored
    kept = {c: s for c, s in st.session_state.get(OTHER_LEVEL, {}).items() if c[:2] == context[:2]}
    if stored is not None and stored.context[:2] == context[:2]:
        kept[stored.context] = stored
    stored = kept.pop(context, None)
    st.session_state[OTHER_LEVEL] = kept
    if stored is None:
        st.session_state.pop(RESULTS, None)
    else:
        st.session_state[RESULTS] = stored
    return stored


def main() -> None:
    st.title("Coarse-to-fine attacks", anchor=False)
    status = status_slot()  # a run's status line, at the top
    st.caption("The LRP poster's explainable attack on a coarse-to-fine classifier, beside DeepFool and PGD: "
               "how the relevance of the original and the runner-up class changes when the decision is fooled.")
    loaded, image = sidebar()
    if image is None:
        st.info("Choose an image in the sidebar (a gallery photo, an upload, or for MNIST models a test digit).")
        return
    info = loaded.info
    with st.expander("How to read this page"):
        st.markdown(HELP)
    left, right = st.columns([1.4, 1], vertical_alignment="bottom")
    level = left.radio("Level", list(LEVELS), format_func=LEVELS.get, horizontal=True, key="c2f_level",
                       help="Coarse: change $C(x)$. Fine: change the fine decision within $r_{org}$ while keeping "
                            "$r_{org}$.")
    labels = image_labels(loaded, info.model_id, image, image.digest)
    with right:
        target = target_picker(labels, level)
    labels = labels.aimed(level, target)
    top1 = predictions(loaded, image, k=1)[0]
    if not any(top1.index in g for g in info.hierarchy.groups):
        st.caption(f":material/info: The flat classifier's top-1, {top1.name} ({top1.probability:.1%}), belongs to no "
                   f"coarse class of {info.hierarchy.name}; the coarse decision is the covered group with the "
                   "most probability.")
    context = (info.model_id, image.digest, level, target)
    stored = _results_for(context)
    st.subheader("The image before and after each attack", anchor=False)
    display = display_settings()  # above the run: moving the percentile while it runs waits for it
    grid_slot = st.container()  # the grid, drawn once the run has ended
    st.subheader("Attacks", anchor=False)
    if blank_images(image.tensor).any():
        st.error(r"This image is all black: its perceptibility $\rho_p = \|\eta\|_p / \|x\|_p$ is undefined "
                 r"($\|x\|_p = 0$), so the attacks are not offered. Choose another image.")
        submitted = False
    else:
        submitted, config = attack_form(level)
    if submitted:
        estimate = study.estimate_seconds(config, model_id=info.model_id, image_digests=[image.digest],
                                          cache=result_cache(), batch_size=1, target=labels.target)
        with visible_run(status, "c2f", f"The {level}-level attacks on {image.source_name or 'the upload'}",
                         estimate) as progress:
            stored = run_comparison(loaded, image, labels, config, context, progress, keep=RESULTS)
        st.session_state[RESULTS] = stored
    else:
        report_unfinished(UNFINISHED, "The attacks that had finished are shown; run again for the rest (the "
                                      "finished ones come from the cache).", status)

    shown = stored.config if stored else DEFAULT_CONFIG  # the rules and p of the maps after
    with st.spinner("LRP maps of the input (the first one on a model takes longer)…"):
        before, before_terms = relevance_maps(loaded, info.model_id, image.digest, image.tensor, labels.indices(),
                                              level, shown.lrp_rules(), shown.lrp_p)
    results_section(stored, loaded, image, labels, level, before, before_terms, shown.lrp_p, display, grid_slot)
    table_section(loaded, image, level, status)


main()
