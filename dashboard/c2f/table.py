"""The C2F page's "reproduce the poster's table" section: the study of ``python -m core c2f-eval``
(``core.studies.c2f.evaluate``) on a set of images, with progress, ours beside the poster's Table 1 / 2."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch
from pandas.io.formats.style import Styler

from core.data import LoadedImage, gallery_names, load_digits, load_folder, load_gallery, split_size, takes_digits
from core.errors import InputError
from core.metrics import perceptibility
from core.provenance import provenance
from core.serialize import dumps
from core.studies import c2f as study
from core.studies import c2f_claims
from core.studies import table as tables
from core.studies.table import Row
from core.wording import counted
from dashboard.c2f.settings import LEVELS, attack_settings, p_text, poster_name
from dashboard.widgets.figures import show
from dashboard.widgets.images import image_uploads, uploaded_images
from dashboard.widgets.runs import duration, visible_run
from dashboard.widgets.state import report_unfinished, result_cache

TABLE = "c2f_table"
TABLE_UNFINISHED = "c2f_table_unfinished"  # the table run under way (unfinished_mark)
MAX_UPLOADS = 200  # images one table on the page takes from uploads; c2f-eval takes any folder
ROW_LABELS = {"rho_2": "ρ²_adv", "rho_1": "ρ¹_adv", "rho_inf": "ρ∞_adv", "fooling_pct": "Fooling (%)"}
ROWS = {row.key: row for row in study.ROWS}
INTERVAL_ROWS = {row.key: row for row in study.INTERVAL_ROWS}  # keyed "<row>_ci", labelled as their row
CHARTED = {"rho_2": "ρ₂ = mean ‖η‖₂ / ‖x‖₂", "fooling_pct": "Fooling (%)"}  # the rows drawn beside the table


def _image_set(loaded, image: LoadedImage, source: str, n_digits: int,
               uploads: list[LoadedImage], folder: str = "") -> list[LoadedImage]:
    info = loaded.info
    if source == "folder":
        images, skipped = load_folder(folder.strip() or ".", **info.input.loading())
        for why in skipped:
            st.caption(f":orange[Left out {why}]")
        return images
    if source == "current":
        return [image]
    if source == "uploads":
        return uploads
    if source == "mnist":
        return load_digits(n_digits)
    return [load_gallery(name, **info.input.loading())
            for name in gallery_names()]


def _beside_frame(result: study.StudyResult) -> Styler:
    """Each row of the poster's layout twice, ours and then the poster's (in grey), in our columns; blank
    where the poster has no such column, '–' where no attack succeeded."""
    ours, theirs = _cells(result.table()), _cells(result.poster_table(), missing="")
    frame = pd.DataFrame({f"{label} · {who}": cells[label] for label in ours
                          for who, cells in (("ours", ours), ("poster", theirs))}).T
    return frame.style.apply(lambda row: ["color: #808080" if row.name.endswith("poster") else ""] * len(row), axis=1)


def _beside_figure(result: study.StudyResult, row: str) -> go.Figure:
    """One row of the table (``CHARTED``) per column, ours beside the poster's (no poster bar where it
    has no such column); rho on a log scale, where DeepFool's are orders of magnitude smaller."""
    names = [poster_name(c.name) for c in result.columns]
    fig = go.Figure([go.Bar(x=names, y=[values[row][c.name] for c in result.columns], name=who, marker_color=colour,
                            hovertemplate=f"%{{x}}, {who}: %{{y:.4g}}<extra></extra>")
                     for who, values, colour in (("ours", result.table(), "#b2182b"),
                                                 ("poster", result.poster_table(), "#8c96a8"))])
    if row.startswith("rho"):
        fig.update_yaxes(type="log", dtick=1, tickformat="~g")  # ticks at the powers of 10
    else:
        fig.update_yaxes(range=[0, 105])
    fig.update_layout(title=dict(text=CHARTED[row], x=0.5, xanchor="center", font=dict(size=14)), barmode="group",
                      height=300, margin=dict(l=4, r=4, t=36, b=4),
                      legend=dict(orientation="h", y=-0.2, x=0.5, xanchor="center"))
    return fig


def _intervals_frame(result: study.StudyResult) -> pd.DataFrame:
    """Each row's 95 % interval (``study.INTERVAL_ROWS``) per column, as text."""
    return _table_frame(tables.values(study.INTERVAL_ROWS, result.columns), INTERVAL_ROWS)


def _show_claims(claims: list[c2f_claims.Claim]) -> None:
    """The poster's claims (``c2f_claims.check``), each with a mark for whether our table bears it out."""
    mark = {True: ":green[:material/check_circle:]", False: ":red[:material/cancel:]",
            None: ":grey[:material/help:]"}
    lines = [f"- {mark[c.holds]} **{poster_name(c.statement)}**: ours {poster_name(c.ours)}; poster "
             f"{poster_name(c.poster)}" for c in claims]
    st.markdown("**The poster's claims on this table** (✓ our table bears it out):\n" + "\n".join(lines))


def _cells(values: dict[str, dict[str, float | None]], missing: str = "–",
           rows: dict[str, Row] = ROWS) -> dict[str, dict[str, str]]:
    """The poster's layout as text, by row label: ρ with 4 decimals, fooling with 1 (an interval's two ends
    likewise), ``missing`` where there is no figure (no attack succeeded, or the poster has no such column)."""
    return {ROW_LABELS[r.removesuffix("_ci")]: {poster_name(c): rows[r].format(v, missing) for c, v in row.items()}
            for r, row in values.items()}


def _table_frame(values: dict[str, dict[str, float | None]], rows: dict[str, Row] = ROWS) -> pd.DataFrame:
    """The poster's layout as a table of text (``_cells``)."""
    return pd.DataFrame(_cells(values, rows=rows)).T


def expected_time(loaded, level: str) -> str:
    """How long the table takes on this machine with the default settings on the gallery (digits for a
    digit model), from its own last runs (``study.estimate_seconds``), as a sentence."""
    info = loaded.info
    images = _image_set(loaded, None, "mnist" if takes_digits(info.input) else "gallery", study.DEFAULT_DIGITS, [])
    expected = study.estimate_seconds(study.StudyConfig(level=level), model_id=info.model_id,
                                      image_digests=[im.digest for im in images], cache=result_cache(),
                                      batch_size=study.BATCH_SIZE)
    if expected is None:
        return ("How long the table takes on this machine is measured on its first run (on a CPU, minutes for "
                "the ImageNet models; mnist_cnn with mnist_c2f takes seconds); later runs say it beforehand.")
    if expected == 0:
        return "With the default settings every attack of this table is in the cache: it takes seconds."
    return (f"With the default settings this table takes about {duration(expected)} on this machine (from its "
            "own last runs; attacks in the cache take no time).")


def table_section(loaded, image: LoadedImage, level: str, status) -> None:
    """The poster's Table 1 / 2 on a set of images (``evaluate``), ours beside the poster's; its run's
    status line in ``status`` (``visible_run``)."""
    info = loaded.info
    st.divider()
    st.subheader("Reproduce the poster's table", anchor=False)
    st.caption("Runs the study of `python -m core c2f-eval` (LRP at each ε, DeepFool, PGD) on a set of images and "
               r"reports ρ₂, ρ₁, ρ∞ (mean $\|\eta\|_p / \|x\|_p$ over the successful attacks) and the fooling ratio.")
    mnist = takes_digits(info.input)
    st.caption(f":material/timer: {expected_time(loaded, level)}")
    uploads, skipped = uploaded_images(
        image_uploads("c2f_table_upload", "Your own images for the table (optional)", multiple=True), info,
        key="c2f_table_uploaded_images")
    for why in skipped:
        st.caption(f":orange[Left out {why}]")
    sources = {"mnist": "MNIST test digits (first N)", "current": "The current image only",
               "gallery": "The gallery (all 6 photos)", "uploads": f"Your {counted(len(uploads), 'uploaded image')}",
               "folder": "A folder on this server"}
    options = ["mnist", "current", "gallery"] if mnist else ["gallery", "current"]
    options += (["uploads"] if uploads else []) + ["folder"]
    with st.form("c2f_table_form", border=True):
        a, b, c = st.columns([1.4, 1, 1.2])
        source = a.radio("Images", options, format_func=sources.get,
                         key=f"c2f_table_images_{'mnist' if mnist else 'rgb'}",
                         help="The poster used 393 ImageNet classes' validation images; the gallery holds 6 photos. "
                              "Your own images: upload them above the form.")
        n_digits = b.number_input("N (MNIST digits)", 1, split_size("test"), study.DEFAULT_DIGITS, key="c2f_table_n",
                                  help="The first N digits of the bundled MNIST test split.") if mnist else 0
        folder = a.text_input("Folder on this server", key="c2f_table_folder", placeholder="../shared/imagenet-sample",
                              help="For 'A folder on this server': every image file in it (e.g. the 500-class ImageNet "
                                   "sample), as `c2f-eval --images FOLDER` reads it. Results are cached per chunk of "
                                   f"{study.BATCH_SIZE} images: a stopped run goes on where it stopped.")
        table_level = c.radio("Level", list(LEVELS), index=list(LEVELS).index(level), format_func=LEVELS.get,
                              key=f"c2f_table_level_{level}")  # follows the page's level when that changes
        config, problem = attack_settings("c2f_table", table_level)
        submitted = st.form_submit_button("Run the table", type="primary", icon=":material/table_chart:")
    stored = st.session_state.get(TABLE)
    if stored is not None and stored.model_id != info.model_id:
        del st.session_state[TABLE]
        stored = None
    if submitted and source == "uploads" and len(uploads) > MAX_UPLOADS:
        config, problem = None, (f"The table here takes at most {MAX_UPLOADS} uploaded images ({len(uploads)} "
                                 "given); for more, run `python -m core c2f-eval --images FOLDER`.")
    if submitted:
        if config is None:
            st.warning(problem)
        else:
            try:
                images = _image_set(loaded, image, source, int(n_digits), uploads, folder)
            except InputError as exc:
                images = None
                st.warning(str(exc))
            if images is not None:
                described = {"mnist": f"the first {len(images)} MNIST test digits",
                             "current": f"the current image, {image.source_name or 'upload'}", "gallery": "the gallery",
                             "uploads": f"your {counted(len(images), 'uploaded image')}",
                             "folder": f"{counted(len(images), 'image')} of {folder.strip()}"}
                stored = run_table(loaded, images, config, described[source], status)
            if stored is not None:
                st.session_state[TABLE] = stored
    else:
        report_unfinished(TABLE_UNFINISHED, "The attacks that had finished are cached: run it again and they take "
                                            "no time.", status)
    if stored is not None:
        show_table(stored)


@dataclass(frozen=True)
class TableRun:
    """The last table run, kept in session state: the model it ran on (id, name, hierarchy), the study's
    result, its images (x) and what they are, how long it took and how many columns came from the
    cache, the images whose top-1 class is in no coarse class, how many the model puts in each coarse class,
    the poster's claims checked on it, the per-image outcomes and the JSON report (built once, not per rerun)."""

    model_id: str
    model: str
    hierarchy: str
    result: study.StudyResult
    x: torch.Tensor
    description: str
    seconds: float
    outside: dict[str, str]
    coarse_counts: dict[str, int]
    claims: list[c2f_claims.Claim]
    from_cache: int
    per_image: pd.DataFrame
    json: bytes


def run_table(loaded, images: list[LoadedImage], config: study.StudyConfig, description: str,
              status) -> TableRun | None:
    """``evaluate`` on ``images`` as c2f-eval runs it, its status line in ``status``; None (and the message)
    if refused."""
    info = loaded.info
    x = torch.cat([im.tensor for im in images]).to(loaded.device)
    digests = [im.digest for im in images]
    started = time.perf_counter()
    estimate = study.estimate_seconds(config, model_id=info.model_id, image_digests=digests, cache=result_cache(),
                                      batch_size=study.BATCH_SIZE)
    try:
        with visible_run(status, "c2f_table", f"The table on {description}", estimate) as progress:
            result = study.evaluate(loaded.model, x, config, image_names=[im.source_name or "upload" for im in images],
                                    model_id=info.model_id, image_digests=digests, cache=result_cache(),
                                    batch_size=study.BATCH_SIZE, progress=progress)  # c2f-eval's batches: same figures
    except ValueError as exc:
        st.error(str(exc))
        return None
    seconds = time.perf_counter() - started
    from_cache = sum(column.result.from_cache for column in result.columns)
    outside = study.outside_hierarchy(loaded.model, x, result.image_names, info.class_names)
    per_image = _per_image_frame(result, x)
    claims = c2f_claims.check(result)
    fields = c2f_claims.report_fields(result, info.hierarchy.coarse_names, claims)
    report = result.to_dict() | provenance(info, loaded.device) | {
        "images_description": description, "seconds": seconds, "top1_outside_hierarchy": outside} | fields
    return TableRun(info.model_id, info.name, info.hierarchy.name, result, x, description, seconds, outside,
                    fields["images_per_coarse_class"], claims, from_cache, per_image, dumps(report).encode())


def _per_image_frame(result: study.StudyResult, x: torch.Tensor) -> pd.DataFrame:
    """Image -> column -> whether the attack fooled it, and its rho_inf."""
    cells = {}
    for column in result.columns:
        rho = perceptibility(column.result.delta, x, math.inf).tolist()
        cells[poster_name(column.name)] = [f"{'✓' if fooled else '✗'} · ρ∞ {r:.4f}"
                                           for fooled, r in zip(column.result.success.tolist(), rho)]
    return pd.DataFrame(cells, index=result.image_names)


def show_table(stored: TableRun) -> None:
    """Ours beside the poster's table and charts, the notes, each image's outcome, what differs, downloads."""
    result = stored.result
    level = result.config.level
    n = len(result.image_names)
    columns, cached = len(result.columns), stored.from_cache
    if cached == columns:
        ran = sum(column.result.seconds or 0.0 for column in result.columns)  # recorded when each attack ran
        timing = f"from the cache (the attacks took {ran:.0f} s when they ran)"
    else:
        timing = f"in {stored.seconds:.0f} s" + (f" ({cached} of {columns} columns from the cache)" if cached
                                                     else "")
    relabelled = "; it labels its fine-level DeepFool column DFC" if level == "fine" else ""
    st.markdown(f"**Ours** ({stored.model} + {stored.hierarchy}, {level} level, {study.n_images(n)}: "
                f"{stored.description}, {timing}) **beside the poster's Table {1 if level == 'coarse' else 2}** "
                f"(grey rows: VGG-16, 393 ImageNet classes, validation set{relabelled}; blank where it has no such "
                f"column)")
    st.dataframe(_beside_frame(result), key="c2f_table_beside")
    for column, row in zip(st.columns(len(CHARTED)), CHARTED):  # side by side; stacked on a phone
        with column:
            show(_beside_figure(result, row), key=f"c2f_table_chart_{row}")
    for note in result.notes(missing="–"):
        st.caption(f":material/info: {poster_name(note[0].upper() + note[1:])}")
    if stored.outside:
        listed = ", ".join(f"{name} ({top})" for name, top in stored.outside.items())
        st.caption(f":material/info: Top-1 class in no coarse class of {stored.hierarchy}: {listed}. Each is "
                   "attacked in its strongest group.")
    st.caption(":material/info: Images per coarse class (the model's decision before the attacks): "
               + ", ".join(f"{name} {k}" for name, k in stored.coarse_counts.items()))
    _show_claims(stored.claims)
    with st.expander("95 % intervals, each image, and the means over all images"):
        st.caption("95 % intervals: a bootstrap of each mean, the exact binomial interval of the fooling ratio. "
                   "They say what this many images can support.")
        st.dataframe(_intervals_frame(result), key="c2f_table_intervals")
        st.caption("✓ fooled, ✗ not fooled; ρ∞ = ‖η‖∞ / ‖x‖∞ of that image.")
        st.dataframe(stored.per_image, key="c2f_table_per_image")
        st.markdown("ρ over all images, the failed attacks included:")
        st.dataframe(_table_frame(result.table(means="all")), key="c2f_table_over_all")
    cfg = result.config
    st.caption(
        f"What differs: our model is {stored.model} with the {stored.hierarchy} hierarchy derived from its "
        f"flat classes (the poster trains separate coarse and fine VGG-16 classifiers); {study.n_images(n)} instead "
        f"of the poster's ImageNet validation images; our optimiser settings (the poster gives none): LRP "
        f"{'up to ' if cfg.lrp_early_stop else ''}{counted(cfg.lrp_steps, cfg.lrp_step_rule + ' step')}, "
        f"p = {p_text(cfg.lrp_p)}, {cfg.lrp_init}-seeded relevance; PGD up to {counted(cfg.pgd_steps, 'step')} of "
        f"{cfg.pgd_alpha_255:g}/255 within {cfg.pgd_eps_255:g}/255"
        f"{', from a random start' if cfg.pgd_random_start else ''}"
        f", stopped at the first success. ρ is averaged over the successful attacks; the JSON holds every "
        f"parameter and per-image result.")
    with st.container(horizontal=True, gap="small"):
        st.download_button("JSON", stored.json,
                           file_name=f"c2f_table_{stored.model}_{level}.json", mime="application/json",
                           key="c2f_table_json", on_click="ignore", help="StudyResult.to_dict(): every column's "
                           "figures and per-image attack results, with the poster's numbers")
        st.download_button("NPZ", lambda: result.npz(stored.x),  # built when clicked, not on every run
                           file_name=f"c2f_table_{stored.model}_{level}.npz", mime="application/octet-stream",
                           key="c2f_table_npz", on_click="ignore", help="The images (x), their names, and each "
                           "column's exact adversarial images (<column>_x_adv; η = x_adv − x), success, iterations "
                           "and labels")
