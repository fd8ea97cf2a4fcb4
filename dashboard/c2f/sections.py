"""How the C2F page draws its single-image comparison: the LRP target picker, the section before the
attacks (input, the two maps, the decisions), a row per attack (adversarial image, maps after it,
perturbation, outcome), the LRP loss curves and the downloads. Presentation only: the numbers come from
the comparison's records (``dashboard.c2f.comparison``) and their verdicts from ``core.studies.c2f_view``."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.data import LoadedImage
from core.explain.heatmap import shared_scale
from core.models import LoadedModel
from core.studies.c2f_view import LossTerms, NamedLabels, Verdict
from core.wording import counted
from dashboard.c2f.comparison import AttackRow, Comparison, Maps, comparison_files, perturbation_pictures
from dashboard.c2f.settings import LEVELS, p_text, poster_name, symbols
from dashboard.widgets.downloads import download_buttons, name_stem
from dashboard.widgets.figures import (
    FIGURE_CELL,
    SIGN_HELP,
    heatmap_figure,
    image_figure,
    probability_figure,
    row_cells,
    show,
)

MAP_HEIGHT = 288
TITLE_LINES = 2  # map titles name the class on a second line; the figures beside them keep the same room
FOOLED = ":green[:material/check_circle: **Fooled**]"
NOT_FOOLED = ":red[:material/cancel: **Not fooled**]"
NAME_CHARS = 16
TITLE_CHARS = 19  # a class name on its own title line (fits a map column at 1280 px)
CHART_CELL = 190  # px, the probability chart's cell (class names and bar labels beside the bars)
RUNNER_UP = -1  # the target picker's option for the poster's runner-up


def _short(name: str, limit: int = NAME_CHARS) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _wrapped(name: str) -> str:
    """A chart label on two lines where it is long ("electrical<br>device"): the page's columns are narrow."""
    return name.replace(" ", "<br>", 1) if len(name) > NAME_CHARS - 4 else name


def _fmt_eps(eps_255: float) -> str:
    return f"{eps_255:g}/255 = {eps_255 / 255:.4f}"


def target_picker(labels: NamedLabels, level: str) -> int | None:
    """The LRP attack's adversarial class: None for the runner-up (the poster's r_adv / f_adv), or
    another class of the level the user picks (most probable first)."""
    others = labels.other_targets(level)
    if not others:  # two classes (or a coarse class with one fine class): nothing else to aim at
        return None
    classes, runner_up = labels.classes(level), labels.pair(level)[1]
    s, word = symbols(level)
    key = f"c2f_target_{level}_{labels.r_org.index}" + (f"_{labels.f_org.index}" if level == "fine" else "")
    picked = st.selectbox(  # the runner-up is option -1: a None option would show as "Choose an option"
        f"LRP{word[0].upper()} target {s}_adv", [RUNNER_UP, *(c.index for c in others)], key=key,
        format_func=lambda i: (f"{runner_up.name}: the runner-up, as in the poster" if i == RUNNER_UP
                               else f"{classes[i].name} ({classes[i].prob:.1%})"),
        help=f"The class whose evidence LRP{word[0].upper()} builds. The poster takes the runner-up; pick another "
             f"{word} class to aim the attack elsewhere. Its success is still judged as the poster's (the {word} "
             f"class changes), DeepFool and PGD stay untargeted, and every map is of {s}_org and this class.")
    return None if picked == RUNNER_UP else picked


# ---------------------------------------------------------------- before the attacks


def map_titles(level: str, labels: NamedLabels) -> tuple[str, str]:
    s, _ = symbols(level)
    org, adv = labels.pair(level)
    return (f"LRP, {s}<sub>org</sub><br>{_short(org.name, TITLE_CHARS)}",
            f"LRP, {s}<sub>adv</sub><br>{_short(adv.name, TITLE_CHARS)}")


def _norm(p: float) -> str:
    """The subscript of ``‖·‖_p``: ₂, ₁.₅, ∞."""
    return p_text(p).translate(str.maketrans("0123456789.", "₀₁₂₃₄₅₆₇₈₉."))


def map_caption(level: str, which: str, relevance_map: np.ndarray, terms: LossTerms, p: float,
                at: str = "x") -> str:
    """The map's formula at input ``at``, its total relevance, and the norms of its positive and negative
    parts, the terms of the LRP loss."""
    s, _ = symbols(level)
    formula = "LRP_C" if level == "coarse" else "LRP_F^r_org"
    i = 0 if which == "org" else 1
    return (f"{formula}({at}; {s}_{which}) · total relevance {float(relevance_map.sum()):.3g}  \n"
            f"‖R⁺‖{_norm(p)} = {terms.pos[i]:.3g} · ‖R⁻‖{_norm(p)} = {terms.neg[i]:.3g}")


def loss_line(level: str, before: LossTerms, after: LossTerms, p: float) -> str:
    """The LRP loss before and after an attack (LRPC/LRPF lower it)."""
    name = "L_C" if level == "coarse" else "L_F"
    return f"LRP loss {name} (p = {p_text(p)}): {before.loss:.3g} → {after.loss:.3g}"


def before_section(loaded: LoadedModel, image: LoadedImage, labels: NamedLabels, level: str, maps: Maps,
                   terms: LossTerms, p: float, scale: float) -> None:
    """The input, the two maps before the attack, the decisions and their probabilities."""
    s, word = symbols(level)
    st.subheader("Before the attack", anchor=False)
    cols = row_cells([FIGURE_CELL] * 3 + [None, CHART_CELL])  # image | LRP org | LRP adv | decisions | chart
    with cols[0]:
        show(image_figure(image.to_uint8(), "Input x", MAP_HEIGHT, title_lines=TITLE_LINES), key="c2f_before_input")
        st.caption(f"{image.source_name or 'upload'} · {loaded.info.input.size}×{loaded.info.input.size}")
    titles = map_titles(level, labels)
    for col, m, title, which in zip(cols[1:3], maps, titles, ("org", "adv")):
        with col:
            show(heatmap_figure(m, scale, title, MAP_HEIGHT, title_lines=TITLE_LINES), key=f"c2f_before_{which}")
            st.caption(map_caption(level, which, m, terms, p))
    with cols[3]:
        chosen = {lv: " · chosen" if labels.target is not None and lv == level else "" for lv in LEVELS}
        st.markdown(
            f"**Coarse** C(x)  \n"
            f"r_org = **{labels.r_org.name}** ({labels.r_org.prob:.1%})  \n"
            f"r_adv = {labels.r_adv.name} ({labels.r_adv.prob:.1%}){chosen['coarse']}  \n"
            f"**Fine**, within {labels.r_org.name}  \n"
            f"f_org = **{labels.f_org.name}** ({labels.f_org.prob:.1%})  \n"
            f"f_adv = {labels.f_adv.name} ({labels.f_adv.prob:.1%}){chosen['fine']}",
            help="r_org = C(x) is the coarse decision and r_adv its runner-up, the class LRPC builds evidence "
                 "for. f_org is the fine decision among the members of r_org and f_adv its runner-up there, "
                 "LRPF's class (keeping r_org). DeepFool and PGD are untargeted. \"chosen\": the LRP attack's "
                 "target picked above instead of the runner-up.")
        st.caption(f"LRP{word[0].upper()} builds evidence for {s}_adv; DeepFool and PGD "
                   f"are untargeted. The maps after each attack are still of {s}_org and {s}_adv.")
    with cols[4]:
        if level == "coarse":
            fig = probability_figure([_wrapped(n) for n in labels.coarse_names], labels.coarse_probs,
                                     "Coarse probabilities", highlight=labels.r_org.index, height=MAP_HEIGHT)
        else:
            top = labels.fine_top()
            fig = probability_figure([_wrapped(_short(c.name)) for c in top], [c.prob for c in top],
                                     f"Fine, within {_short(labels.r_org.name)}",
                                     highlight=0, height=MAP_HEIGHT)
        show(fig, key="c2f_before_probs")


# ---------------------------------------------------------------- after the attacks


def outcome_text(row: AttackRow, labels: NamedLabels, level: str, loss: str) -> str:
    """Success, the new labels, iterations, the perceptibility of this image and the ``loss`` line, as
    markdown."""
    result, after, fig = row.result, row.after, row.figures
    verdict = Verdict.of(labels, after, row.fooled)
    if level == "coarse":
        said = f"{FOOLED}: coarse class changed" if verdict.fooled else f"{NOT_FOOLED}: coarse class kept"
        coarse_line = (f"Coarse: {labels.r_org.name} → **{after.coarse.name}** ({after.coarse.prob:.0%})"
                       if not verdict.coarse_kept else
                       f"Coarse: **{labels.r_org.name}** kept ({after.coarse.prob:.0%})")
    else:
        if verdict.fooled:
            said = f"{FOOLED}: fine class changed, coarse class kept"
        elif not verdict.coarse_kept:
            said = f"{NOT_FOOLED}: the coarse class changed too"
        else:
            said = f"{NOT_FOOLED}: fine class unchanged"
        coarse_line = (f"Coarse: **{labels.r_org.name}** kept ✓" if verdict.coarse_kept else
                       f"Coarse: {labels.r_org.name} → **{after.coarse.name}** ✗")
    fine_line = (f"Fine: {labels.f_org.name} → **{after.fine.name}** ({after.fine.prob:.0%})" if verdict.fine_changed
                 else f"Fine: **{labels.f_org.name}** kept ({after.fine.prob:.0%})")
    timing = ("from the cache" if row.seconds is None else  # an entry cached before runs were timed
              f"{row.seconds:.1f} s" + (", from the cache" if row.cached else ""))
    linf = float(np.abs(row.delta).max()) * 255
    lines = [
        said, coarse_line, fine_line,
        f"Iterations: {int(result.iterations[0])} · {timing}",
        f"ρ₂ = {fig['rho_2_all']:.3g} · ρ₁ = {fig['rho_1_all']:.3g}",  # significant digits: DeepFool's are tiny
        f"ρ∞ = {fig['rho_inf_all']:.3g} · ‖η‖∞ = {linf:.3g}/255",
        loss,
    ]
    if verdict.fooled:
        lines.append("With its pixels rounded to 1/255, as an 8-bit PNG stores them, it still fools"
                     if row.fooled_8bit else
                     ":orange[With its pixels rounded to 1/255, as an 8-bit PNG stores them, it no longer fools] "
                     "(the NPZ download keeps the exact image)")
    return "  \n".join(lines)


def perturbation_figure(picture: np.ndarray, factor: float):
    """The amplified perturbation, its factor written where the heatmaps have their colour bar."""
    fig = image_figure(picture, "Perturbation η", MAP_HEIGHT, title_lines=TITLE_LINES)
    fig.add_annotation(text=f"×{factor:,.3g} amplified · grey = 0", xref="paper", yref="paper", x=0.5,
                       y=-0.02, xanchor="center", yanchor="top", showarrow=False, font=dict(size=11))
    return fig


def magnitude_note(before: Maps, rows: list[AttackRow], percentile: float, level: str) -> str | None:
    """A hint when one scale makes some maps look blank (their own scales differ by more than 10×)."""
    s, _ = symbols(level)
    targets = (f"{s}_org", f"{s}_adv")
    shown = [("before", before)] + [(poster_name(row.name), row.maps) for row in rows]
    named = [(f"{when}, {target}", m) for when, maps in shown for target, m in zip(targets, maps)]
    own = [(shared_scale([m], percentile), name) for name, m in named]
    (low, weak), (high, strong) = min(own), max(own)
    if high <= 10 * low:
        return None
    return (f":material/info: The maps differ in magnitude by up to {high / low:,.0f}× (strongest: {strong}, "
            f"weakest: {weak}), so on one scale the weaker ones look pale. That difference is part of the "
            "comparison; lower the percentile to see their patterns.")


def row_heading(row: AttackRow, target_name: str) -> str:
    """The row's attack and settings; an LRP attack's ``target_name`` where it was aimed at a chosen class."""
    params = row.params
    if row.attack == "lrp":
        up_to = "up to " if params.get("early_stop") else ""
        steps = f"{up_to}{counted(params['steps'], params['step_rule'] + ' step')}"
        detail = f"ε = {_fmt_eps(params['eps'] * 255)} · {steps} · p = {p_text(params['p'])}"
        if params.get("target") is not None:
            detail += f" · aimed at {target_name}"
    elif row.attack == "pgd":
        detail = (f"ε = {_fmt_eps(params['eps'] * 255)} · up to {counted(params['steps'], 'step')} of "
                  f"{params['alpha'] * 255:g}/255{' · random start' if params.get('random_start') else ''}")
    else:
        detail = f"up to {counted(params['steps'], 'step')} · overshoot {params['overshoot']:g}"
    return f"**After {poster_name(row.name)}** &nbsp; <small>{detail}</small>"


def results_section(stored: Comparison, loaded: LoadedModel, image: LoadedImage, labels: NamedLabels, level: str,
                    before_maps: Maps, before_terms: LossTerms, scale: float, percentile: float) -> None:
    """One row per attack: adversarial image, both maps after it, the perturbation and its outcome."""
    for message in stored.errors:
        st.error(message)
    rows, p = stored.rows, stored.config.lrp_p
    if not rows:
        return
    st.subheader("After the attacks", anchor=False)
    st.caption(f"All {2 + 2 * len(rows)} relevance maps on this page share one symmetric colour scale "
               f"±{scale:.3g} (the {percentile:g}th percentile of |relevance| over all of them). "
               + SIGN_HELP)
    note = magnitude_note(before_maps, rows, percentile, level)
    if note:
        st.caption(note)
    same = st.toggle("One amplification for all perturbations", True, key="c2f_same_amplification",
                     help="On: every perturbation is scaled by the same factor, so their strengths compare (a tiny "
                          "one looks grey). Off: each by its own factor, to see its pattern.")
    if same not in stored.pictures:  # made once per setting, not on every rerun
        stored.pictures[same] = perturbation_pictures(rows, same)
    pictures = stored.pictures[same]
    titles = map_titles(level, labels)
    for i, row in enumerate(rows):
        st.markdown(row_heading(row, labels.pair(level)[1].name), unsafe_allow_html=True)
        cols = row_cells([FIGURE_CELL] * 4 + [None])  # image | LRP org | LRP adv | perturbation | outcome
        with cols[0]:
            show(image_figure(row.adversarial, "Adversarial<br>x + η", MAP_HEIGHT,
                              title_lines=TITLE_LINES), key=f"c2f_row{i}_image")
        for col, m, title, which in zip(cols[1:3], row.maps, titles, ("org", "adv")):
            with col:
                show(heatmap_figure(m, scale, title, MAP_HEIGHT, title_lines=TITLE_LINES),
                     key=f"c2f_row{i}_{which}")
                st.caption(map_caption(level, which, m, row.terms, p, at="x+η"))
        with cols[3]:
            show(perturbation_figure(*pictures[i]), key=f"c2f_row{i}_delta")
        with cols[4]:
            st.markdown(outcome_text(row, labels, level, loss_line(level, before_terms, row.terms, p)))
    curves = loss_curves_figure(rows, level, p)
    if curves is not None:
        st.markdown("**The LRP loss at each step** (the loss of each iterate before its step; the returned image's "
                    "is under its row)")
        show(curves, key="c2f_loss_curves")
    downloads(stored, loaded, image, labels, level, before_maps, scale, same, percentile)


def loss_curves_figure(rows: list[AttackRow], level: str, p: float) -> go.Figure | None:
    """The LRP loss of every iterate of each LRP row (``history["lrp_loss"]``; iterate 0 is the input), one
    line per row; None without LRP rows."""
    lrp = [row for row in rows if row.attack == "lrp"]
    if not lrp:
        return None
    fig = go.Figure([go.Scatter(x=list(range(len(curve))), y=curve, mode="lines+markers", name=poster_name(row.name),
                                hovertemplate="iterate %{x}: %{y:.3g}<extra></extra>")
                     for row in lrp for curve in [row.result.history["lrp_loss"].tolist()]])
    fig.update_layout(height=260, margin=dict(l=4, r=4, t=8, b=4), legend=dict(orientation="h", y=1, yanchor="bottom"),
                      xaxis_title="iterate (0: the input)",
                      yaxis_title=f"{'L_C' if level == 'coarse' else 'L_F'} (p = {p_text(p)})")
    return fig


def downloads(stored: Comparison, loaded: LoadedModel, image: LoadedImage, labels: NamedLabels, level: str,
              before_maps: Maps, scale: float, same: bool, percentile: float) -> None:
    """The comparison's JSON, NPZ and ZIP, and each PNG in an expander (encoded once per colour scale and
    amplification, not on every rerun)."""
    files = stored.files.get((scale, same))
    if files is None:
        files = stored.files[scale, same] = comparison_files(stored, loaded, image, labels, level, before_maps,
                                                             scale, stored.pictures[same], percentile)
    prefix = f"{name_stem(image.source_name)}_{loaded.info.name}_{level}"
    st.markdown("**Downloads** (the whole comparison)")
    with st.container(horizontal=True, gap="small"):
        download_buttons({k: v for k, v in files.items() if not k.endswith(".png")}, prefix, key="c2f_dl")
    with st.expander(f"PNG of each map, perturbation and adversarial image ({sum(k.endswith('.png') for k in files)})"):
        st.caption("Maps are coloured on the shared scale shown above; the perturbation's factor is in its name. "
                   "The adversarial PNGs are 8-bit: they round every pixel to a multiple of 1/255, which can undo "
                   "a very small perturbation (each row says whether it survives that rounding); the NPZ holds the "
                   "exact images. The ZIP above holds all of these PNGs.")
        with st.container(horizontal=True, gap="small"):
            for name, data in files.items():
                if name.endswith(".png"):
                    st.download_button(name, data, file_name=f"{prefix}_{name}", mime="image/png",
                                       key=f"c2f_png_{name}", on_click="ignore")
