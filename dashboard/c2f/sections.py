"""How the C2F page draws its single-image comparison: the LRP target picker, the compact grid (one row per
image: the original, then each attack's x+η; columns: image, amplified perturbation, the two LRP maps and
their changes; each row's labels and figures beside it), the before/after view of one row, the details
(decisions, every attack's settings and figures, the maps' loss terms), the LRP loss curves and the
downloads. Presentation only: the numbers come from the comparison's records (``dashboard.c2f.comparison``)
and the verdicts, maps and scales from ``core.studies.c2f_view``."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.data import LoadedImage
from core.explain.heatmap import ColourScale, scale_of
from core.models import LoadedModel
from core.studies.c2f_view import (
    ORIGINAL,
    SCOPES,
    GridMaps,
    LossTerms,
    Maps,
    NamedLabels,
    Verdict,
    before_after_scale,
    grid_maps,
)
from core.wording import counted
from dashboard.c2f.comparison import AttackRow, Comparison, comparison_files, perturbation_pictures
from dashboard.c2f.settings import LEVELS, p_text, poster_name, symbols
from dashboard.widgets.downloads import download_buttons, name_stem
from dashboard.widgets.figures import probability_figure, scale_percentile_slider, show
from dashboard.widgets.grid import GridRow, MapCell, Picture, draw_grid

FOOLED = ":green[:material/check_circle: **Fooled**]"
NOT_FOOLED = ":red[:material/cancel: **Not fooled**]"
NAME_CHARS = 16
CHART_HEIGHT = 288  # px, the probability chart in the details
BIG_CELL = 250  # px, a picture of the before/after view
RUNNER_UP = -1  # the target picker's option for the poster's runner-up
GREY = 128  # the perturbation cell of the original row: no change


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
        f"LRP{word[0].upper()} target {math_label(level, 'adv')}", [RUNNER_UP, *(c.index for c in others)], key=key,
        format_func=lambda i: (f"{runner_up.name}: the runner-up, as in the poster" if i == RUNNER_UP
                               else f"{classes[i].name} ({classes[i].prob:.1%})"),
        help=f"The class whose evidence LRP{word[0].upper()} builds. The poster takes the runner-up; pick another "
             f"{word} class to aim the attack elsewhere. Its success is still judged as the poster's (the {word} "
             f"class changes), DeepFool and PGD stay untargeted, and every map is of {math_label(level, 'org')} and "
             "this class.")
    return None if picked == RUNNER_UP else picked


# ---------------------------------------------------------------- notation


def math_label(level: str, which: str) -> str:
    """The class as markdown math: ``$r_{org}$``, ``$f_{adv}$``."""
    return f"${symbols(level)[0]}_{{{which}}}$"


def lrp_formula(level: str, which: str, at: str = "x") -> str:
    """The map as markdown math, e.g. ``$\\mathrm{LRP}_{F^{r_{org}}}(x+\\eta;\\, f_{adv})$``."""
    head = "C" if level == "coarse" else "F^{r_{org}}"
    point = "x+\\eta" if at != "x" else "x"
    return f"$\\mathrm{{LRP}}_{{{head}}}({point};\\, {symbols(level)[0]}_{{{which}}})$"


def loss_name(level: str) -> str:
    return "$L_C$" if level == "coarse" else "$L_F$"


def _norm(p: float) -> str:
    """The subscript of ``‖·‖_p``: ₂, ₁.₅, ∞."""
    return p_text(p).translate(str.maketrans("0123456789.", "₀₁₂₃₄₅₆₇₈₉."))


def map_caption(level: str, which: str, relevance_map: np.ndarray, terms: LossTerms, p: float,
                at: str = "x") -> str:
    """The map's formula at input ``at``, its total relevance, and the norms of its positive and negative
    parts, the terms of the LRP loss."""
    i = 0 if which == "org" else 1
    return (f"{lrp_formula(level, which, at)} · total relevance {float(relevance_map.sum()):.3g}  \n"
            f"‖R⁺‖{_norm(p)} = {terms.pos[i]:.3g} · ‖R⁻‖{_norm(p)} = {terms.neg[i]:.3g}")


def loss_line(level: str, before: LossTerms, after: LossTerms, p: float) -> str:
    """The LRP loss before and after an attack (LRPC/LRPF lower it)."""
    return f"LRP loss {loss_name(level)} (p = {p_text(p)}): {before.loss:.3g} → {after.loss:.3g}"


def _short_number(value: float) -> str:
    """Two significant digits, a short exponent: 4.4e-5, 0.035, 12."""
    mantissa, e, exponent = f"{value:.2g}".partition("e")
    return f"{mantissa}e{int(exponent)}" if e else mantissa


def _span(scale: ColourScale) -> str:
    high = _short_number(scale.limit)
    return f"±{high}" if scale.signed else f"0 to {high}"


# ---------------------------------------------------------------- the grid


def grid_columns(level: str, labels: NamedLabels) -> list[str]:
    """The grid's column titles (Plotly HTML, two lines each)."""
    s, _ = symbols(level)
    org, adv = labels.pair(level)
    return ["image<br>x or x+η", "perturbation η<br>amplified",
            f"LRP, {s}<sub>org</sub><br>{_short(org.name)}", f"LRP, {s}<sub>adv</sub><br>{_short(adv.name)}",
            f"change of {s}<sub>org</sub><br>after − before", f"change of {s}<sub>adv</sub><br>after − before"]


def original_text(labels: NamedLabels, image: LoadedImage, level: str, maps: GridMaps) -> str:
    """The original row's labels: the coarse and fine decisions and runners-up, and its maps' scale."""
    marked = {lv: " (aimed)" if labels.target is not None and lv == level else "" for lv in LEVELS}
    return (f"**Original x** · {image.source_name or 'upload'}  \n"
            f"$C$: **{labels.r_org.name}** {labels.r_org.prob:.1%} · $r_{{adv}}$ {labels.r_adv.name} "
            f"{labels.r_adv.prob:.1%}{marked['coarse']}  \n"
            f"$F$: **{labels.f_org.name}** {labels.f_org.prob:.1%} · $f_{{adv}}$ {labels.f_adv.name} "
            f"{labels.f_adv.prob:.1%}{marked['fine']}  \n"
            f"maps {_span(maps.scale)}")


def verdict_line(row: AttackRow, labels: NamedLabels, level: str) -> tuple[str, str]:
    """The row's verdict (fooled or not, and why) and its new labels, short."""
    after = row.after
    verdict = Verdict.of(labels, after, row.fooled)
    coarse = (f"{labels.r_org.name} → **{after.coarse.name}** {after.coarse.prob:.0%}" if not verdict.coarse_kept
              else f"**{labels.r_org.name}** kept {after.coarse.prob:.0%}")
    fine = (f"{labels.f_org.name} → **{after.fine.name}** {after.fine.prob:.0%}" if verdict.fine_changed
            else f"**{labels.f_org.name}** kept {after.fine.prob:.0%}")
    if verdict.fooled:
        said = ":green[✓ fooled]"
    elif level == "fine" and not verdict.coarse_kept:
        said = ":red[✗ not fooled: the coarse class changed too]"
    else:
        said = ":red[✗ not fooled]"
    return said, (f"$C$: {coarse}" if level == "coarse" else f"$F$: {fine} · $C$ {after.coarse.name}")


def attack_text(row: AttackRow, labels: NamedLabels, level: str, before: LossTerms, maps: GridMaps,
                factor: float) -> str:
    """An attack row's labels and figures: the verdict and whether it survives 8-bit rounding, the new class,
    ρ and the LRP loss before → after, the perturbation's amplification and the scales of its maps."""
    said, labelled = verdict_line(row, labels, level)
    fig = row.figures
    saved = ("" if row.fooled_8bit is None else " · 8-bit PNG ✓" if row.fooled_8bit else " · :orange[8-bit PNG ✗]")
    return (f"**{poster_name(row.name)}** · {said}{saved}  \n{labelled}  \n"
            f"ρ₂ {_short_number(fig['rho_2_all'])} · ρ∞ {_short_number(fig['rho_inf_all'])} · "
            f"{loss_name(level)} {_short_number(before.loss)} → {_short_number(row.terms.loss)}  \n"
            f"η ×{factor:,.3g} · maps {_span(maps.scale)} · changes {', '.join(map(_span, maps.change_scales))}")


def grid_rows(labels: NamedLabels, image: LoadedImage, level: str, rows: list[AttackRow], grid: list[GridMaps],
              pictures: list[tuple[np.ndarray, float]], before_terms: LossTerms, shown: tuple[str, ...] | None = None
              ) -> list[GridRow]:
    """The grid's rows (all, or those named in ``shown``: ``ORIGINAL`` or column names)."""
    s, _ = symbols(level)
    org, adv = labels.pair(level)

    def maps(row: GridMaps, at: str) -> list[MapCell | None]:
        cells = [MapCell(m, row.scale, f"LRP of {s}_{which} ({c.name}) at {at}")
                 for m, which, c in zip(row.maps, ("org", "adv"), (org, adv))]
        if row.changes is None:
            return cells + [None, None]
        return cells + [MapCell(m, scale, f"change of the {s}_{which} map ({c.name})")
                        for m, scale, which, c in zip(row.changes, row.change_scales, ("org", "adv"), (org, adv))]

    x = image.to_uint8()
    out = [(ORIGINAL, GridRow([Picture(x, "x"), Picture(np.full_like(x, GREY), "no perturbation"),
                               *maps(grid[0], "x")], original_text(labels, image, level, grid[0])))]
    for row, row_maps, (picture, factor) in zip(rows, grid[1:], pictures):
        cells = [Picture(row.adversarial, f"x+η, {poster_name(row.name)}"), Picture(picture, f"η ×{factor:,.3g}"),
                 *maps(row_maps, "x+η")]
        out.append((row.name, GridRow(cells, attack_text(row, labels, level, before_terms, row_maps, factor))))
    return [row for name, row in out if shown is None or name in shown]


def scales_caption(grid: list[GridMaps]) -> str:
    """Which scale each row's maps are on (``ColourScale.describe``), and how to read the colours."""
    first = grid[0].scale
    if first.scope == SCOPES[True][0]:
        changes = f"; all changes on {grid[1].change_scales[0].describe()}" if len(grid) > 1 else ""
        said = f"All maps on {first.describe()}{changes}."
    else:
        said = ("Each row on its own scales: its two maps share one, each change has its own (the "
                f"{first.percentile:g}th percentile of |relevance|; ends written in the row).")
    return (f"{said} Red: evidence for the class named above the column, blue: against it, white: none; in a "
            "change map, red: more evidence than before, blue: less. The perturbation: grey = no change. "
            "8-bit PNG ✓ / ✗: whether the image still fools once saved as an 8-bit PNG. Full screen: the "
            "button at a row's top right.")


def magnitude_note(grid: list[GridMaps], level: str) -> str | None:
    """With one scale for all rows: a hint when that makes some maps look pale (their own scales differ
    by more than 10×)."""
    s, _ = symbols(level)
    named = [(f"{'before' if row.name == ORIGINAL else poster_name(row.name)}, {s}_{which}", m)
             for row in grid for which, m in zip(("org", "adv"), row.maps)]
    own = [(scale_of([m], grid[0].scale.percentile).limit, name) for name, m in named]
    (low, weak), (high, strong) = min(own), max(own)
    if high <= 10 * low:
        return None
    return (f":material/info: The maps differ in magnitude by up to {high / low:,.0f}× (strongest: {strong}, "
            f"weakest: {weak}), so on one scale the weaker ones look pale. That difference is part of the "
            "comparison; untick “One scale for all rows” to see each row's pattern.")


def display_settings() -> tuple[float, bool, bool]:
    """The grid's display switches (outside the form: moving them reruns no attack): the percentile where
    the colour scales end, one scale for all rows, one amplification for all perturbations."""
    left, mid, right = st.columns([1.1, 0.8, 1.3], vertical_alignment="center")
    with left:
        percentile = scale_percentile_slider("c2f_scale_percentile")
    one_scale = mid.toggle("One scale for all rows", False, key="c2f_one_scale",
                           help="Off: each row's two maps on a scale of that row alone, and each change on its own, so "
                                "every pattern shows. On: every map on one scale (every change on another), so "
                                "strengths compare across rows: a weak row then looks pale.")
    same = right.toggle("One amplification for all perturbations", False, key="c2f_same_amplification",
                        help="Off: each perturbation scaled by its own factor, to see its pattern. On: every one by "
                             "the same factor, so their strengths compare (a tiny one looks grey).")
    return percentile, one_scale, same


def comparison_grid(labels: NamedLabels, image: LoadedImage, level: str, rows: list[AttackRow],
                    grid: list[GridMaps], pictures: list[tuple[np.ndarray, float]], before_terms: LossTerms,
                    key: str = "c2f_grid", shown: tuple[str, ...] | None = None) -> None:
    """The compact grid (key ``key``), the original row first."""
    draw_grid(grid_columns(level, labels), grid_rows(labels, image, level, rows, grid, pictures, before_terms, shown),
              key=key)


# ---------------------------------------------------------------- before / after, one row


@st.fragment
def before_after(labels: NamedLabels, image: LoadedImage, level: str, rows: list[AttackRow], before: Maps,
                 percentile: float) -> None:
    """One attack's image and its two maps, large, before or after it, on one scale of both (a fragment:
    switching reruns only this)."""
    s, _ = symbols(level)
    org, adv = labels.pair(level)
    left, right = st.columns([1, 1.4], vertical_alignment="bottom")
    names = [row.name for row in rows]
    if st.session_state.get("c2f_ba_row") not in names:  # a row of an earlier run
        st.session_state.pop("c2f_ba_row", None)
    name = left.selectbox("Row", names, format_func=poster_name, key="c2f_ba_row")
    row = rows[names.index(name)]
    after = right.radio("Show", [False, True], index=1, horizontal=True, key="c2f_ba_after",
                        format_func=lambda a: f"After {poster_name(name)}" if a else "Before the attack")
    scale = before_after_scale(before, row.maps, percentile)
    maps, picture, at = (row.maps, row.adversarial, "x+η") if after else (before, image.to_uint8(), "x")
    cells = [Picture(picture, at),
             *(MapCell(m, scale, f"LRP of {s}_{w} at {at}") for m, w in zip(maps, ("org", "adv")))]
    decided = verdict_line(row, labels, level) if after else ("", f"$C$: **{labels.r_org.name}** · "
                                                                  f"$F$: **{labels.f_org.name}**")
    text = (f"**{poster_name(name)}: {'after' if after else 'before'} the attack**  \n{decided[1]}  \n"
            f"Both maps, before and after, on {scale.describe()}.")
    draw_grid([f"image {at}", f"LRP, {s}<sub>org</sub><br>{_short(org.name)}",
               f"LRP, {s}<sub>adv</sub><br>{_short(adv.name)}"], [GridRow(cells, text)], key="c2f_ba",
              cell=BIG_CELL, text_share=0.25)


# ---------------------------------------------------------------- details


def decisions_block(labels: NamedLabels, level: str) -> None:
    """The labels with their probabilities, and the probabilities of the level's classes as a chart."""
    s, word = symbols(level)
    text, chart = st.columns([1.4, 1])
    chosen = {lv: " · chosen" if labels.target is not None and lv == level else "" for lv in LEVELS}
    text.markdown(
        f"**Coarse** $C(x)$  \n"
        f"$r_{{org}}$ = **{labels.r_org.name}** ({labels.r_org.prob:.1%})  \n"
        f"$r_{{adv}}$ = {labels.r_adv.name} ({labels.r_adv.prob:.1%}){chosen['coarse']}  \n"
        f"**Fine**, within {labels.r_org.name}  \n"
        f"$f_{{org}}$ = **{labels.f_org.name}** ({labels.f_org.prob:.1%})  \n"
        f"$f_{{adv}}$ = {labels.f_adv.name} ({labels.f_adv.prob:.1%}){chosen['fine']}",
        help="$r_{org} = C(x)$ is the coarse decision and $r_{adv}$ its runner-up, the class LRPC builds evidence "
             "for. $f_{org}$ is the fine decision among the members of $r_{org}$ and $f_{adv}$ its runner-up there, "
             "LRPF's class (keeping $r_{org}$). DeepFool and PGD are untargeted. \"chosen\": the LRP attack's "
             "target picked above instead of the runner-up.")
    text.caption(f"LRP{word[0].upper()} builds evidence for {math_label(level, 'adv')}; DeepFool and PGD are "
                 f"untargeted. The maps after each attack are still of {math_label(level, 'org')} and "
                 f"{math_label(level, 'adv')}.")
    with chart:
        if level == "coarse":
            fig = probability_figure([_wrapped(n) for n in labels.coarse_names], labels.coarse_probs,
                                     "Coarse probabilities", highlight=labels.r_org.index, height=CHART_HEIGHT)
        else:
            top = labels.fine_top()
            fig = probability_figure([_wrapped(_short(c.name)) for c in top], [c.prob for c in top],
                                     f"Fine, within {_short(labels.r_org.name)}", highlight=0, height=CHART_HEIGHT)
        show(fig, key="c2f_before_probs")


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


def details_section(labels: NamedLabels, level: str, before: Maps, before_terms: LossTerms, rows: list[AttackRow],
                    p: float) -> None:
    """In an expander: the decisions and probabilities, the maps' loss terms before the attacks, and every
    attack's settings, outcome, figures and maps' loss terms."""
    with st.expander("Details: the labels, every attack's settings and figures, the loss terms of each map"):
        decisions_block(labels, level)
        st.markdown("**Before the attack**")
        for col, m, which in zip(st.columns(2), before, ("org", "adv")):
            col.caption(map_caption(level, which, m, before_terms, p))
        for row in rows:
            st.markdown(row_heading(row, labels.pair(level)[1].name), unsafe_allow_html=True)
            text, *maps = st.columns([1.2, 1, 1])
            text.markdown(outcome_text(row, labels, level, loss_line(level, before_terms, row.terms, p)))
            for col, m, which in zip(maps, row.maps, ("org", "adv")):
                col.caption(map_caption(level, which, m, row.terms, p, at="x+η"))


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
                      yaxis_title=f"L<sub>{'C' if level == 'coarse' else 'F'}</sub> (p = {p_text(p)})")
    return fig


# ---------------------------------------------------------------- the whole comparison


def results_section(stored: Comparison | None, loaded: LoadedModel, image: LoadedImage, labels: NamedLabels,
                    level: str, before: Maps, before_terms: LossTerms, p: float, display: tuple[float, bool, bool],
                    grid_slot) -> None:
    """The grid in ``grid_slot`` (the original row alone before any attack; ``display``: ``display_settings``),
    then the before/after view of one row, the details, the loss curves and the downloads."""
    rows = stored.rows if stored else []
    percentile, one_scale, same = display
    grid = grid_maps(before, [(row.name, row.maps) for row in rows], percentile, one_scale)
    pictures = []
    if rows:
        if same not in stored.pictures:  # made once per setting, not on every rerun
            stored.pictures[same] = perturbation_pictures(rows, same)
        pictures = stored.pictures[same]
    with grid_slot:
        for message in stored.errors if stored else []:
            st.error(message)
        comparison_grid(labels, image, level, rows, grid, pictures, before_terms)
        st.caption(scales_caption(grid))
        note = magnitude_note(grid, level) if one_scale and rows else None
        if note:
            st.caption(note)
    if rows:
        st.markdown("**Before and after, larger**: one row's image and maps, switching on one scale for both")
        before_after(labels, image, level, rows, before, percentile)
    details_section(labels, level, before, before_terms, rows, p)
    if not rows:
        return
    curves = loss_curves_figure(rows, level, p)
    if curves is not None:
        st.markdown("**The LRP loss at each step** (the loss of each iterate; where the attack stopped at its "
                    "first success, the last point is the returned image's)")
        show(curves, key="c2f_loss_curves")
    downloads(stored, loaded, image, labels, level, grid, same, display)


def downloads(stored: Comparison, loaded: LoadedModel, image: LoadedImage, labels: NamedLabels, level: str,
              grid: list[GridMaps], same: bool, setting: tuple) -> None:
    """The comparison's JSON, NPZ and ZIP, and each PNG in an expander (encoded once per display
    ``setting``, not on every rerun)."""
    files = stored.files.get(setting)
    if files is None:
        files = stored.files[setting] = comparison_files(stored, loaded, image, labels, level, grid,
                                                         stored.pictures[same])
    prefix = f"{name_stem(image.source_name)}_{loaded.info.name}_{level}"
    st.markdown("**Downloads** (the whole comparison)")
    with st.container(horizontal=True, gap="small"):
        download_buttons({k: v for k, v in files.items() if not k.endswith(".png")}, prefix, key="c2f_dl")
    with st.expander(f"PNG of each map, perturbation and adversarial image ({sum(k.endswith('.png') for k in files)})"):
        st.caption("Each map is drawn on the scale the grid shows it on, with its colour bar and the scale's ends in "
                   "the picture (and in the JSON); the perturbation's factor is in its name. The adversarial PNGs "
                   "are 8-bit: they round every pixel to a multiple of 1/255, which can undo a very small "
                   "perturbation (each row says whether it survives that rounding); the NPZ holds the exact images. "
                   "The ZIP above holds all of these PNGs.")
        with st.container(horizontal=True, gap="small"):
            for name, data in files.items():
                if name.endswith(".png"):
                    st.download_button(name, data, file_name=f"{prefix}_{name}", mime="image/png",
                                       key=f"c2f_png_{name}", on_click="ignore")
