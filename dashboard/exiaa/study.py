"""The eXIAA page's grid section: the study of ``python -m core exiaa-eval`` (``core.studies.exiaa.evaluate``)
over alpha x top-k on a set of images, with progress, Stop and the result cache; the paper's Figures 2-4
(explanation change %, SSIM and confidence change against top-k, a line per alpha, eXIAA solid and the
baseline dotted), its Table 1 layout beside the paper's, Figure 5 on models of few classes (the running-up
class against every other class as the attack image's class), and the figures as JSON."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
import torch

from core.data import LoadedImage, load_digits, load_folder, takes_digits
from core.data.pools import Pool
from core.errors import InputError
from core.explain.explanation import classifier
from core.models import LoadedModel
from core.provenance import provenance
from core.serialize import dumps
from core.studies import exiaa as study
from dashboard.widgets.downloads import download_buttons
from dashboard.widgets.explainers import METHOD_LABELS
from dashboard.widgets.figures import show
from dashboard.widgets.runs import duration, visible_run
from dashboard.widgets.state import report_unfinished, result_cache

GRID = "exiaa_study"
FIGURE5 = "exiaa_figure5"
FIGURES = {"change_pct": "Explanation change (%) · Figure 2", "ssim": "SSIM · Figure 3",
           "confidence_pct": "Confidence change (points) · Figure 4"}
COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")
MAX_IMAGES = 500


SOURCES = {"image": "This image", "digits": "MNIST test digits", "folder": "A folder on this server"}


def _images(loaded: LoadedModel, image: LoadedImage, source: str, n: int, folder: str) -> list[LoadedImage]:
    """The grid's images: this one, the first ``n`` MNIST test digits, or the first ``n`` images of ``folder``
    (sorted by name; files left out are named under the form)."""
    if source == "digits":
        return load_digits(n)
    if source == "folder":
        images, skipped = load_folder(folder or ".", **loaded.info.input.loading())
        for why in skipped:
            st.caption(f":orange[Left out {why}]")
        return images[:n]
    return [image]


def grid_settings(loaded: LoadedModel, method: str) -> tuple[bool, str, int, str, study.StudyConfig | None]:
    """The grid's form: which images, the methods, alphas and top-ks; (run?, image source, N, folder, config)."""
    digits = takes_digits(loaded.info.input)
    with st.form("exiaa_grid_form", border=True):
        left, right = st.columns([1, 1.4])
        source = left.radio("Images", ["image", "digits", "folder"] if digits else ["image", "folder"],
                            horizontal=True, format_func=SOURCES.get, key="exiaa_grid_images")
        n = left.number_input("How many (the first N digits of the test split, or files of the folder)", 1,
                              MAX_IMAGES, study.DEFAULT_DIGITS, key="exiaa_grid_n")
        folder = left.text_input("Folder (for “A folder on this server”)", key="exiaa_grid_folder",
                                 placeholder="/path/to/images").strip()
        methods = right.multiselect("Methods", study.METHODS, default=[method], format_func=METHOD_LABELS.get,
                                    key="exiaa_grid_methods")
        alphas = right.multiselect("α", study.ALPHAS, default=list(study.ALPHAS), key="exiaa_grid_alphas",
                                   format_func=lambda a: f"{a:g}")
        top_ks = st.multiselect("top-k", study.TOP_KS, default=list(study.TOP_KS), key="exiaa_grid_top_ks",
                                format_func=lambda k: f"{k:g}")
        submitted = st.form_submit_button("Run the grid", type="primary", icon=":material/grid_on:")
    try:
        config = study.StudyConfig(methods=tuple(methods), alphas=tuple(alphas), top_ks=tuple(top_ks))
    except InputError as exc:
        if submitted:
            st.warning(str(exc))
        return False, source, int(n), folder, None
    return submitted, source, int(n), folder, config


def curves_figure(result: study.StudyResult, method: str, figure: str) -> go.Figure:
    """One of Figures 2-4: the figure's mean over the attacks against top-k, one colour per alpha, eXIAA solid
    and the Gaussian baseline dotted."""
    config = result.config
    fig = go.Figure()
    for who, dash in (("ours", "solid"), ("baseline", "dot")):
        means = result.mean(method, who, figure)
        for i, alpha in enumerate(config.alphas):
            label = f"α {alpha:g}, {'eXIAA' if who == 'ours' else 'baseline'}"
            fig.add_trace(go.Scatter(x=list(config.top_ks), y=means[i].tolist(), mode="lines+markers", name=label,
                                     line=dict(color=COLOURS[i % len(COLOURS)], dash=dash),
                                     hovertemplate=f"{label}<br>top-k %{{x:g}}: %{{y:.3g}}<extra></extra>"))
    return _layout(fig, FIGURES[figure])


LEGEND = dict(orientation="h", x=0.5, xanchor="center", y=-0.22, yanchor="top", font=dict(size=10))


def _layout(fig: go.Figure, title: str) -> go.Figure:
    """Title on top, the legend under the plot (a legend beside it would take half of a third of the page)."""
    fig.update_layout(title=dict(text=title, x=0.5, xanchor="center", font=dict(size=14)), height=460,
                      margin=dict(l=4, r=4, t=36, b=4), xaxis_title="top-k", legend=LEGEND)
    return fig


def figure5(curves: dict, config: study.StudyConfig, method: str) -> go.Figure:
    """Figure 5: explanation change % against top-k with the running-up class's attack image (solid) and the
    mean of every other class's (dashed), one colour per alpha."""
    fig = go.Figure()
    for key, dash, word in (("running_up", "solid", "running-up class"), ("others", "dash", "other classes")):
        for i, alpha in enumerate(config.alphas):
            label = f"α {alpha:g}, {word}"
            fig.add_trace(go.Scatter(x=list(config.top_ks), y=list(curves[key][i]), mode="lines+markers", name=label,
                                     line=dict(color=COLOURS[i % len(COLOURS)], dash=dash),
                                     hovertemplate=f"{label}<br>top-k %{{x:g}}: %{{y:.3g}}<extra></extra>"))
    return _layout(fig, f"Figure 5 · {METHOD_LABELS[method]}: explanation change (%)")


def _run(loaded: LoadedModel, images: list[LoadedImage], config: study.StudyConfig, pool: Pool, progress,
         ranks: bool):
    x = torch.cat([im.tensor for im in images]).to(loaded.device)
    options = {"image_names": [im.source_name or "upload" for im in images],
               "image_digests": [im.digest for im in images], "model_id": loaded.info.model_id,
               "cache": result_cache()}
    if ranks:
        return study.evaluate_ranks(classifier(loaded), x, config, pool, class_names=loaded.info.class_names,
                                    progress=progress, **options)
    return study.evaluate(classifier(loaded), x, config, pool, class_names=loaded.info.class_names,
                          progress=progress, **options)


def grid_section(loaded: LoadedModel, image: LoadedImage, pool: Pool, method: str, status) -> None:
    """The grid over alpha x top-k (Figures 2-4, Table 1) and, for models of few classes, Figure 5."""
    info = loaded.info
    st.divider()
    st.subheader("The grid: α × top-k (Figures 2–4)", anchor=False)
    st.caption("The study of `python -m core exiaa-eval`: every (α, top-k) of eXIAA and of the Gaussian baseline "
               "on the same images and pool. Per image and method it explains the image and its attack image "
               "once; only the corrupted images are explained per grid point. Results are cached.")
    submitted, source, n, folder, config = grid_settings(loaded, method)
    context = (info.model_id, pool.content, source, image.digest if source == "image" else (n, folder))
    if submitted and config is not None:
        try:
            images = _images(loaded, image, source, n, folder)
        except InputError as exc:
            st.error(str(exc))
            return
        estimate = study.estimate_seconds(config, model_id=info.model_id, image_digests=[im.digest for im in images],
                                          pool=pool, cache=result_cache())
        if estimate == 0:
            st.caption(":material/timer: every image of this grid is in the cache")
        elif estimate is not None:
            st.caption(f":material/timer: about {duration(estimate)} on this machine (from its own last runs)")
        try:
            with visible_run(status, GRID, f"The grid on {len(images)} image(s)", estimate) as progress:
                result = _run(loaded, images, config, pool, progress, ranks=False)
            st.session_state[GRID] = (context, result)
        except InputError as exc:
            st.error(str(exc))
    else:
        report_unfinished(f"{GRID}_unfinished", "The images that had finished are cached; run again for the rest.",
                          status)
    stored = st.session_state.get(GRID)
    if stored is None or stored[0] != context:
        st.info("Run the grid to see the paper's Figures 2–4 for these images and this pool.")
        return
    result = stored[1]
    names = ", ".join(result.image_names[:3]) + (" …" if len(result.image_names) > 3 else "")
    for m in result.grids:
        attacks = result.values(m, "ours", "change_pct").shape[0]
        st.markdown(f"**{METHOD_LABELS[m]}** · {attacks} attack(s) on {names} · pool: {result.pool}")
        columns = st.columns(3)
        for column, figure in zip(columns, FIGURES):
            with column:
                show(curves_figure(result, m, figure), key=f"exiaa_fig_{m}_{figure}")
        for note in result.notes(m):
            st.caption(note)
        checked = study.claims({w: {f: result.mean(m, w, f) for f in study.FIGURES} for w in study.WHO},
                               result.config.top_ks)
        st.caption("The paper's claims on these images: " + study.claims_text(checked, result.config.alphas)
                   .replace("\n", "; ") + ".")
    with st.expander("Table 1's layout beside the paper's (ResNet-18, ViT-B16)"):
        st.markdown(result.format(markdown=True))
    report = result.to_dict() | provenance(info, loaded.device)
    if len(info.class_names) <= study.MAX_RANKED_CLASSES:
        report |= _figure5_section(loaded, result, pool, (source, n, folder), image, status, context)
    download_buttons({"figures.json": dumps(report).encode()}, "exiaa_grid", key="exiaa_grid_dl")


def _figure5_section(loaded, result: study.StudyResult, pool: Pool, chosen: tuple, image: LoadedImage,
                     status, context: tuple) -> dict:
    """Figure 5 on the grid's images and settings: the attack image from each class other than y*, by rank."""
    st.markdown("**Figure 5**: the running-up class against every other class as the attack image's class "
                f"({len(loaded.info.class_names) - 1} attacks per image and method).")
    with st.form("exiaa_figure5_form", border=False):  # a form's button: session state may not hold a button's value
        submitted = st.form_submit_button("Run Figure 5", icon=":material/stacked_line_chart:")
    if submitted:
        try:
            images = _images(loaded, image, *chosen)
            with visible_run(status, FIGURE5, "Figure 5", None) as progress:
                ranked = _run(loaded, images, result.config, pool, progress, ranks=True)
            st.session_state[FIGURE5] = (context, result.config,
                                         {m: study.rank_curves(ranked, m) for m in result.config.methods})
        except InputError as exc:
            st.error(str(exc))
    stored = st.session_state.get(FIGURE5)
    if stored is None or stored[0] != context or stored[1] != result.config:
        return {}
    _, config, curves = stored
    columns = st.columns(len(curves))
    for column, (m, c) in zip(columns, curves.items()):
        with column:
            show(figure5(c, config, m), key=f"exiaa_fig5_{m}")
    return {"figure5": {m: {k: v.tolist() for k, v in c.items()} for m, c in curves.items()}}
