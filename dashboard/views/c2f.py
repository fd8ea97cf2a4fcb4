"""Coarse-to-fine attacks: LRPC/LRPF beside DeepFool and PGD on a C2F model (the LRP poster, seed 000).

Thin page: labels, relevance maps, attacks and figures come from ``core`` (``core.attacks.c2f``,
``core.studies.c2f``); attack results come from the persistent result cache, relevance maps from
``st.cache_data``, and the last comparison of each level lives in ``st.session_state`` (dropped when
the model or the image changes), so moving a display widget never reruns an attack or an LRP pass. The
settings form is ``dashboard.c2f_settings``; the "reproduce the table" section ``dashboard.c2f_table``.
"""
from __future__ import annotations

import io
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from core.attacks.c2f import C2FLabels
from core.attacks.lrp_c2f import loss_of_norms, lrp_norms
from core.data import LoadedImage, pixel_digest, to_uint8
from core.explain.heatmap import colorize, heatmap, perturbation_image, png_bytes, shared_scale
from core.metrics import blank_images
from core.models import DEFAULT_MODEL, REGISTRY
from core.models.locks import model_lock
from core.provenance import provenance
from core.serialize import dumps
from core.studies import c2f as study
from core.studies.runner import sub_progress
from core.studies.table import column_slug
from core.wording import counted
from dashboard import widgets as W
from dashboard.c2f_settings import DEFAULT_CONFIG, LEVELS, attack_settings, p_text, poster_name
from dashboard.c2f_table import table_section

RESULTS = "c2f_results"
OTHER_LEVEL = "c2f_results_other_level"  # results of the other level or target, for a switch back
UNFINISHED = "c2f_unfinished"  # the run under way (W.unfinished_mark)
DEFAULT_IMAGE = "coffee"  # in the imagenet_c2f hierarchy (food); the gallery cat belongs to no coarse class
MAP_HEIGHT = 288
TITLE_LINES = 2  # map titles name the class on a second line; the figures beside them keep the same room
FOOLED = ":green[:material/check_circle: **Fooled**]"
NOT_FOOLED = ":red[:material/cancel: **Not fooled**]"
NAME_CHARS = 16
TITLE_CHARS = 19  # a class name on its own title line (fits a map column at 1280 px)
CHART_CELL = 190  # px, the probability chart's cell (class names and bar labels beside the bars)

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

**The maps.** Relevance by the poster's rules: z⁺ in the hidden layers, z^β (ZBox) at the input
(composite `zplus_zbox`), summed over colour channels. Red pixels speak for the class named above the map,
blue ones against it, white ones not at all. All maps of one comparison share one symmetric colour scale,
so equal colours mean equal relevance before and after every attack. With z⁺ rules the maps of two classes
often look alike (z⁺ is little class-selective): compare their strength, and how it moves after each attack.

**The loss.** Under each map: its total relevance, and the norms $\|R^+\|_p$, $\|R^-\|_p$ of its positive and
negative parts over all pixels and channels, the four terms of the loss; each row gives the loss before → after
its attack (LRPC/LRPF lower it). The total can rise while the loss falls: the loss weighs the two classes' maps
against each other. z⁺ and the input layer's z^β pass relevance down with the sign it starts with (the
class's logit): their terms $x^+w^+$, $x^-w^-$ and $(x-l)\,w^+ + (x-h)\,w^-$ are never negative. So each map
has one sign: $\|R^-\|_p = 0$ where the logit is positive (no pixel speaks against the class), and the whole
map is negative where it is negative.

**The numbers.** For this image $\rho_p = \|\eta\|_p / \|x\|_p$ ($p$ = 2, 1, ∞); the poster's table averages
them over a data set. Being relative to the image, $\rho_\infty$ exceeds $\varepsilon/255$ where the image's
brightest value is below 1, although $\|\eta\|_\infty \le \varepsilon/255$ always holds. The perturbation is
shown amplified (grey = no change), with the factor under it:
by default one factor for all rows, so their strengths compare; switch it off to see each one's pattern.
"""


# ---------------------------------------------------------------- cached helpers (no Streamlit output)


@st.cache_data(show_spinner=False)
def _c2f_models() -> dict[str, list[str]]:
    """Models that LRP supports and that have a shipped hierarchy -> those hierarchies (default first)."""
    out = {}
    for name, spec in REGISTRY.items():
        options = W.hierarchies_for(name) if spec.lrp_supported else []
        if options:
            out[name] = options
    return dict(sorted(out.items(), key=lambda item: item[0] != DEFAULT_MODEL))


@st.cache_data(show_spinner=False, max_entries=64)
def _labels(_loaded, model_id: str, _image: LoadedImage, digest: str) -> dict[str, Any]:
    """The C2F labels of one image (``C2FLabels.from_logits``), with names and probabilities (coarse
    softmax; fine within r_org)."""
    hc, h = _loaded.model, _loaded.info.hierarchy
    x = _image.tensor.to(_loaded.device)
    with model_lock(hc), torch.no_grad():
        coarse, fine = hc.logits(x)  # fine: within the predicted coarse class, r_org
        labels = C2FLabels.from_logits(coarse, fine)
    cp, fp = coarse.softmax(1)[0].cpu(), fine.softmax(1)[0].cpu()
    r_org, r_adv, f_org, f_adv = (int(v[0]) for v in (labels.r_org, labels.r_adv, labels.f_org, labels.f_adv))
    members = h.fine_names[r_org]
    top = sorted(range(len(members)), key=lambda j: -float(fp[j]))[:5]
    return {
        "r_org": r_org, "r_adv": r_adv, "f_org": f_org, "f_adv": f_adv,
        "r_org_name": h.coarse_names[r_org], "r_adv_name": h.coarse_names[r_adv],
        "f_org_name": members[f_org], "f_adv_name": members[f_adv],
        "r_org_prob": float(cp[r_org]), "r_adv_prob": float(cp[r_adv]),
        "f_org_prob": float(fp[f_org]), "f_adv_prob": float(fp[f_adv]),
        "coarse_probs": [float(p) for p in cp], "fine_probs": [float(p) for p in fp[: len(members)]],
        "fine_top": [(members[j], float(fp[j])) for j in top], "target": None,
    }


def _level_classes(labels: dict[str, Any], level: str, h) -> tuple[tuple[str, ...], list[float], int, int]:
    """The classes of ``level`` (coarse, or the fine classes of r_org), their probabilities, and the
    positions of the original class and of its runner-up among them."""
    if level == "coarse":
        return h.coarse_names, labels["coarse_probs"], labels["r_org"], labels["r_adv"]
    return h.fine_names[labels["r_org"]], labels["fine_probs"], labels["f_org"], labels["f_adv"]


RUNNER_UP = -1  # the target picker's option for the poster's runner-up


def target_picker(labels: dict[str, Any], level: str, h) -> int | None:
    """The LRP attack's adversarial class: None for the runner-up (the poster's r_adv / f_adv), or
    another class of the level the user picks (most probable first)."""
    names, probs, original, runner_up = _level_classes(labels, level, h)
    others = sorted((i for i in range(len(names)) if i not in (original, runner_up)), key=lambda i: -probs[i])
    if not others:  # two classes (or a coarse class with one fine class): nothing else to aim at
        return None
    s, word = _symbols(level)
    key = f"c2f_target_{level}_{labels['r_org']}" + (f"_{labels['f_org']}" if level == "fine" else "")
    picked = st.selectbox(  # the runner-up is option -1: a None option would show as "Choose an option"
        f"LRP{word[0].upper()} target {s}_adv", [RUNNER_UP, *others], key=key,
        format_func=lambda i: (f"{names[runner_up]}: the runner-up, as in the poster" if i == RUNNER_UP
                               else f"{names[i]} ({probs[i]:.1%})"),
        help=f"The class whose evidence LRP{word[0].upper()} builds. The poster takes the runner-up; pick another "
             f"{word} class to aim the attack elsewhere. Its success is still judged as the poster's (the {word} "
             f"class changes), DeepFool and PGD stay untargeted, and every map is of {s}_org and this class.")
    return None if picked == RUNNER_UP else picked


def aimed_labels(labels: dict[str, Any], level: str, target: int | None, h) -> dict[str, Any]:
    """``labels`` with the adversarial class of ``level`` set to ``target`` (None: as they are)."""
    if target is None:
        return labels
    names, probs, _, _ = _level_classes(labels, level, h)
    s, _ = _symbols(level)
    return labels | {f"{s}_adv": target, f"{s}_adv_name": names[target], f"{s}_adv_prob": probs[target],
                     "target": target}


def _label_tuple(labels: dict[str, Any]) -> tuple[int, int, int, int]:
    return labels["r_org"], labels["r_adv"], labels["f_org"], labels["f_adv"]


def _c2f_labels(labels: tuple[int, int, int, int], device: torch.device) -> C2FLabels:
    return C2FLabels(*(torch.tensor([v], device=device) for v in labels))


@st.cache_data(show_spinner=False, max_entries=256)
def _maps(_loaded, model_id: str, digest: str, _x: torch.Tensor, labels: tuple[int, int, int, int],
          level: str, rules: dict[str, str], p: float) -> tuple[tuple[np.ndarray, np.ndarray], dict[str, Any]]:
    """The poster's two heatmaps (H, W) of ``_x`` (1, C, H, W) for the original labels ``labels``
    (``relevance_pair``: r_org/r_adv on C, or f_org/f_adv on F^{r_org}) by the attack's LRP ``rules``
    (``StudyConfig.lrp_rules()``), so they are the maps its loss is of; and the terms of that loss with
    norm order ``p`` (``lrp_norms``: ``pos``, ``neg`` for org and adv; ``loss``). ``digest`` identifies ``_x``."""
    device = _loaded.device
    org, adv = study.relevance_pair(_loaded.model, _x.to(device), _c2f_labels(labels, device), level, rules)
    both = torch.stack([org, adv])
    positive, negative = lrp_norms(both, p)
    terms = {"pos": positive[:, 0].tolist(), "neg": negative[:, 0].tolist(),
             "loss": float(loss_of_norms(positive, negative)[0])}
    return (heatmap(org)[0], heatmap(adv)[0]), terms


def _short(name: str, limit: int = NAME_CHARS) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _wrapped(name: str) -> str:
    """A chart label on two lines where it is long ("electrical<br>device"): the page's columns are narrow."""
    return name.replace(" ", "<br>", 1) if len(name) > NAME_CHARS - 4 else name


LABEL_NOTES = {  # what the label fields of the comparison JSON mean
    "after": "the decisions on x+eta the page shows: the coarse class C(x+eta), then the fine class inside it",
    "label_names.fine_after_within_r_org": "F^{r_org}(x+eta): the fine decision inside the original coarse class "
                                           "r_org, the one a fine-level attack must change; after a coarse-level "
                                           "attack the image has left r_org, so this is not its fine class",
    "result.labels": "r_org, r_adv, coarse_after: coarse class indices; f_org, f_adv, fine_after: positions "
                     "within r_org's member list",
}


def _fmt_eps(eps_255: float) -> str:
    return f"{eps_255:g}/255 = {eps_255 / 255:.4f}"


# ---------------------------------------------------------------- sidebar


def sidebar():
    """Model (only those with a shipped hierarchy), hierarchy and image; returns (loaded, image or None)."""
    with st.sidebar:
        st.subheader("Model")
        models = _c2f_models()
        available = W.model_availability()
        name = st.selectbox(
            "Model", list(models), key="c2f_model",
            format_func=W.model_label(available),
            help="Models with a shipped coarse-to-fine hierarchy that LRP supports. mnist_cnn with mnist_c2f "
                 "runs in seconds (good for teaching); efficientnet_lite0 with imagenet_c2f is the "
                 "ImageNet version (one to a few minutes per comparison on a CPU).")
        st.caption(REGISTRY[name].description)
        hierarchy = st.selectbox(
            "Coarse-to-fine hierarchy", models[name], key="c2f_hierarchy",
            help="Coarse score = log-sum-exp of the member classes' logits; the fine decision is taken among "
                 "the members of the chosen coarse class.")
    loaded = W.model_picker(name, hierarchy, key="c2f")  # a refusal shows in the main area
    refusal = st.empty()  # ... and so does an unusable image's
    with st.sidebar:
        h = loaded.info.hierarchy
        st.caption(f"{h.num_coarse} coarse classes: {', '.join(h.coarse_names)}.")
        st.subheader("Image")
        image = W.pick_image(loaded.info, key="c2f_image", default=DEFAULT_IMAGE, errors=refusal)
    return loaded, image


# ---------------------------------------------------------------- one image: run


def run_comparison(loaded, image: LoadedImage, labels: dict[str, Any], config: study.StudyConfig) -> dict[str, Any]:
    """Every column of ``config`` on the one image (``run_attack``, cached), then its maps after the attack."""
    info, hc = loaded.info, loaded.model
    x = image.tensor.to(loaded.device)
    runs = config.runs()
    cache = W.result_cache()
    bar = st.progress(0.0, text="Starting…")
    progress = W.progress_callback(bar)
    rows, errors = [], []
    rules = config.lrp_rules()
    for i, (name, attack, params) in enumerate(runs):
        part = sub_progress(progress, i / len(runs), (i + 0.85) / len(runs), f"{name} ({i + 1}/{len(runs)}): ")
        progress(i / len(runs), f"{name} ({i + 1}/{len(runs)})…")
        if attack == "lrp" and labels["target"] is not None:
            params = params | {"target": labels["target"]}
        try:
            result = study.run_column(hc, x, attack, config.level, params, model_id=info.model_id,
                                      image_digests=[image.digest], cache=cache, batch_size=1, progress=part)
        except ValueError as exc:  # InputError: the message says what to change
            errors.append(f"{name}: {exc}")
            continue
        progress((i + 0.9) / len(runs), f"{name} ({i + 1}/{len(runs)}): relevance after the attack…")
        maps, terms = _maps(loaded, info.model_id, pixel_digest(result.x_adv), result.x_adv, _label_tuple(labels),
                            config.level, rules, config.lrp_p)
        fooled_8bit = None  # asked only of a success: does it still fool once saved as an 8-bit PNG?
        if bool(result.success[0]):
            fooled_8bit = bool(study.survives_8bit(hc, result, config.level)[0])
        rows.append({"name": name, "attack": attack, "params": params, "result": result,
                     "figures": study.figures(result, x, "all"), "maps": maps, "terms": terms,
                     "after": W.decision(loaded, result.x_adv), "seconds": result.seconds,
                     "cached": result.from_cache,
                     "adversarial": to_uint8(result.x_adv[0]), "fooled_8bit": fooled_8bit,
                     "delta": result.delta[0].cpu().numpy()})
    progress(1.0, "Done")
    bar.empty()
    return {"config": config, "rows": rows, "errors": errors, "pictures": {}, "files": {}}


# ---------------------------------------------------------------- one image: show


def _symbols(level: str) -> tuple[str, str]:
    return ("r", "coarse") if level == "coarse" else ("f", "fine")


def map_titles(level: str, labels: dict[str, Any]) -> tuple[str, str]:
    s, _ = _symbols(level)
    return (f"LRP, {s}<sub>org</sub><br>{_short(labels[f'{s}_org_name'], TITLE_CHARS)}",
            f"LRP, {s}<sub>adv</sub><br>{_short(labels[f'{s}_adv_name'], TITLE_CHARS)}")


def _norm(p: float) -> str:
    """The subscript of ``‖·‖_p``: ₂, ₁.₅, ∞."""
    return p_text(p).translate(str.maketrans("0123456789.", "₀₁₂₃₄₅₆₇₈₉."))


def map_caption(level: str, which: str, relevance_map: np.ndarray, terms: dict[str, Any], p: float,
                at: str = "x") -> str:
    """The map's formula at input ``at``, its total relevance, and the norms of its positive and negative
    parts, the terms of the LRP loss."""
    s, _ = _symbols(level)
    formula = "LRP_C" if level == "coarse" else "LRP_F^r_org"
    i = 0 if which == "org" else 1
    return (f"{formula}({at}; {s}_{which}) · total relevance {float(relevance_map.sum()):.3g}  \n"
            f"‖R⁺‖{_norm(p)} = {terms['pos'][i]:.3g} · ‖R⁻‖{_norm(p)} = {terms['neg'][i]:.3g}")


def loss_line(level: str, before: dict[str, Any], after: dict[str, Any], p: float) -> str:
    """The LRP loss before and after an attack (LRPC/LRPF lower it)."""
    name = "L_C" if level == "coarse" else "L_F"
    return f"LRP loss {name} (p = {p_text(p)}): {before['loss']:.3g} → {after['loss']:.3g}"


def before_section(loaded, image: LoadedImage, labels: dict[str, Any], level: str, maps, terms: dict[str, Any],
                   p: float, scale: float) -> None:
    """The input, the two maps before the attack, the decisions and their probabilities."""
    h = loaded.info.hierarchy
    s, word = _symbols(level)
    st.subheader("Before the attack", anchor=False)
    cols = W.row_cells([W.FIGURE_CELL] * 3 + [None, CHART_CELL])  # image | LRP org | LRP adv | decisions | chart
    with cols[0]:
        W.show(W.image_figure(image.to_uint8(), "Input x", MAP_HEIGHT, title_lines=TITLE_LINES), key="c2f_before_input")
        st.caption(f"{image.source_name or 'upload'} · {loaded.info.input.size}×{loaded.info.input.size}")
    titles = map_titles(level, labels)
    for col, m, title, which in zip(cols[1:3], maps, titles, ("org", "adv")):
        with col:
            W.show(W.heatmap_figure(m, scale, title, MAP_HEIGHT, title_lines=TITLE_LINES), key=f"c2f_before_{which}")
            st.caption(map_caption(level, which, m, terms, p))
    with cols[3]:
        chosen = {lv: " · chosen" if labels["target"] is not None and lv == level else "" for lv in LEVELS}
        st.markdown(
            f"**Coarse** C(x)  \n"
            f"r_org = **{labels['r_org_name']}** ({labels['r_org_prob']:.1%})  \n"
            f"r_adv = {labels['r_adv_name']} ({labels['r_adv_prob']:.1%}){chosen['coarse']}  \n"
            f"**Fine**, within {labels['r_org_name']}  \n"
            f"f_org = **{labels['f_org_name']}** ({labels['f_org_prob']:.1%})  \n"
            f"f_adv = {labels['f_adv_name']} ({labels['f_adv_prob']:.1%}){chosen['fine']}",
            help="r_org = C(x) is the coarse decision and r_adv its runner-up, the class LRPC builds evidence "
                 "for. f_org is the fine decision among the members of r_org and f_adv its runner-up there, "
                 "LRPF's class (keeping r_org). DeepFool and PGD are untargeted. \"chosen\": the LRP attack's "
                 "target picked above instead of the runner-up.")
        st.caption(f"LRP{word[0].upper()} builds evidence for {s}_adv; DeepFool and PGD "
                   f"are untargeted. The maps after each attack are still of {s}_org and {s}_adv.")
    with cols[4]:
        if level == "coarse":
            fig = W.probability_figure([_wrapped(n) for n in h.coarse_names], labels["coarse_probs"],
                                       "Coarse probabilities", highlight=labels["r_org"], height=MAP_HEIGHT)
        else:
            names, probs = zip(*labels["fine_top"])
            fig = W.probability_figure([_wrapped(_short(n)) for n in names], probs,
                                       f"Fine, within {_short(labels['r_org_name'])}",
                                       highlight=0, height=MAP_HEIGHT)
        W.show(fig, key="c2f_before_probs")


def outcome_text(row: dict[str, Any], labels: dict[str, Any], level: str, loss: str) -> str:
    """Success, the new labels, iterations, the perceptibility of this image and the ``loss`` line, as
    markdown."""
    result, after, fig = row["result"], row["after"], row["figures"]
    success = bool(result.success[0])
    coarse_kept = after["coarse"] == labels["r_org"]
    if level == "coarse":
        verdict = f"{FOOLED}: coarse class changed" if success else f"{NOT_FOOLED}: coarse class kept"
        coarse_line = (f"Coarse: {labels['r_org_name']} → **{after['coarse_name']}** ({after['coarse_prob']:.0%})"
                       if not coarse_kept else f"Coarse: **{labels['r_org_name']}** kept ({after['coarse_prob']:.0%})")
    else:
        if success:
            verdict = f"{FOOLED}: fine class changed, coarse class kept"
        elif not coarse_kept:
            verdict = f"{NOT_FOOLED}: the coarse class changed too"
        else:
            verdict = f"{NOT_FOOLED}: fine class unchanged"
        coarse_line = (f"Coarse: **{labels['r_org_name']}** kept ✓" if coarse_kept else
                       f"Coarse: {labels['r_org_name']} → **{after['coarse_name']}** ✗")
    fine_changed = not coarse_kept or after["fine"] != labels["f_org"]
    fine_line = (f"Fine: {labels['f_org_name']} → **{after['fine_name']}** ({after['fine_prob']:.0%})" if fine_changed
                 else f"Fine: **{labels['f_org_name']}** kept ({after['fine_prob']:.0%})")
    timing = ("from the cache" if row["seconds"] is None else  # an entry cached before runs were timed
              f"{row['seconds']:.1f} s" + (", from the cache" if row["cached"] else ""))
    linf = float(np.abs(row["delta"]).max()) * 255
    lines = [
        verdict, coarse_line, fine_line,
        f"Iterations: {int(result.iterations[0])} · {timing}",
        f"ρ₂ = {fig['rho_2_all']:.3g} · ρ₁ = {fig['rho_1_all']:.3g}",  # significant digits: DeepFool's are tiny
        f"ρ∞ = {fig['rho_inf_all']:.3g} · ‖η‖∞ = {linf:.3g}/255",
        loss,
    ]
    if success:
        lines.append("With its pixels rounded to 1/255, as an 8-bit PNG stores them, it still fools"
                     if row["fooled_8bit"] else
                     ":orange[With its pixels rounded to 1/255, as an 8-bit PNG stores them, it no longer fools] "
                     "(the NPZ download keeps the exact image)")
    return "  \n".join(lines)


def perturbation_figure(picture: np.ndarray, factor: float):
    """The amplified perturbation, its factor written where the heatmaps have their colour bar."""
    fig = W.image_figure(picture, "Perturbation η", MAP_HEIGHT, title_lines=TITLE_LINES)
    fig.add_annotation(text=f"×{factor:,.3g} amplified · grey = 0", xref="paper", yref="paper", x=0.5,
                       y=-0.02, xanchor="center", yanchor="top", showarrow=False, font=dict(size=11))
    return fig


def magnitude_note(before, rows: list[dict[str, Any]], percentile: float, level: str) -> str | None:
    """A hint when one scale makes some maps look blank (their own scales differ by more than 10×)."""
    s, _ = _symbols(level)
    targets = (f"{s}_org", f"{s}_adv")
    shown = [("before", before)] + [(poster_name(row["name"]), row["maps"]) for row in rows]
    named = [(f"{when}, {target}", m) for when, maps in shown for target, m in zip(targets, maps)]
    own = [(shared_scale([m], percentile), name) for name, m in named]
    (low, weak), (high, strong) = min(own), max(own)
    if high <= 10 * low:
        return None
    return (f":material/info: The maps differ in magnitude by up to {high / low:,.0f}× (strongest: {strong}, "
            f"weakest: {weak}), so on one scale the weaker ones look pale. That difference is part of the "
            "comparison; lower the percentile to see their patterns.")


def row_heading(row: dict[str, Any], target_name: str) -> str:
    """The row's attack and settings; an LRP attack's ``target_name`` where it was aimed at a chosen class."""
    params = row["params"]
    if row["attack"] == "lrp":
        up_to = "up to " if params.get("early_stop") else ""
        steps = f"{up_to}{counted(params['steps'], params['step_rule'] + ' step')}"
        detail = f"ε = {_fmt_eps(params['eps'] * 255)} · {steps} · p = {p_text(params['p'])}"
        if params.get("target") is not None:
            detail += f" · aimed at {target_name}"
    elif row["attack"] == "pgd":
        detail = (f"ε = {_fmt_eps(params['eps'] * 255)} · up to {counted(params['steps'], 'step')} of "
                  f"{params['alpha'] * 255:g}/255{' · random start' if params.get('random_start') else ''}")
    else:
        detail = f"up to {counted(params['steps'], 'step')} · overshoot {params['overshoot']:g}"
    return f"**After {poster_name(row['name'])}** &nbsp; <small>{detail}</small>"


def results_section(stored: dict[str, Any], loaded, image: LoadedImage, labels: dict[str, Any], level: str,
                    before_maps, before_terms: dict[str, Any], scale: float, percentile: float) -> None:
    """One row per attack: adversarial image, both maps after it, the perturbation and its outcome."""
    for message in stored["errors"]:
        st.error(message)
    rows, p = stored["rows"], stored["config"].lrp_p
    if not rows:
        return
    st.subheader("After the attacks", anchor=False)
    st.caption(f"All {2 + 2 * len(rows)} relevance maps on this page share one symmetric colour scale "
               f"±{scale:.3g} (the {percentile:g}th percentile of |relevance| over all of them). "
               + W.SIGN_HELP)
    note = magnitude_note(before_maps, rows, percentile, level)
    if note:
        st.caption(note)
    same = st.toggle("One amplification for all perturbations", True, key="c2f_same_amplification",
                     help="On: every perturbation is scaled by the same factor, so their strengths compare (a tiny "
                          "one looks grey). Off: each by its own factor, to see its pattern.")
    if same not in stored["pictures"]:  # made once per setting, not on every rerun
        stored["pictures"][same] = perturbation_pictures(rows, same)
    pictures = stored["pictures"][same]
    titles = map_titles(level, labels)
    for i, row in enumerate(rows):
        st.markdown(row_heading(row, labels[f"{_symbols(level)[0]}_adv_name"]), unsafe_allow_html=True)
        cols = W.row_cells([W.FIGURE_CELL] * 4 + [None])  # image | LRP org | LRP adv | perturbation | outcome
        with cols[0]:
            W.show(W.image_figure(row["adversarial"], "Adversarial<br>x + η", MAP_HEIGHT,
                                  title_lines=TITLE_LINES), key=f"c2f_row{i}_image")
        for col, m, title, which in zip(cols[1:3], row["maps"], titles, ("org", "adv")):
            with col:
                W.show(W.heatmap_figure(m, scale, title, MAP_HEIGHT, title_lines=TITLE_LINES),
                       key=f"c2f_row{i}_{which}")
                st.caption(map_caption(level, which, m, row["terms"], p, at="x+η"))
        with cols[3]:
            W.show(perturbation_figure(*pictures[i]), key=f"c2f_row{i}_delta")
        with cols[4]:
            st.markdown(outcome_text(row, labels, level, loss_line(level, before_terms, row["terms"], p)))
    curves = loss_curves_figure(rows, level, p)
    if curves is not None:
        st.markdown("**The LRP loss at each step** (the loss of each iterate before its step; the returned image's "
                    "is under its row)")
        W.show(curves, key="c2f_loss_curves")
    downloads(stored, loaded, image, labels, level, before_maps, scale, same, percentile)


def loss_curves_figure(rows: list[dict[str, Any]], level: str, p: float) -> go.Figure | None:
    """The LRP loss of every iterate of each LRP row (``history["lrp_loss"]``; iterate 0 is the input), one
    line per row; None without LRP rows."""
    lrp = [row for row in rows if row["attack"] == "lrp"]
    if not lrp:
        return None
    fig = go.Figure([go.Scatter(x=list(range(len(curve))), y=curve, mode="lines+markers", name=poster_name(row["name"]),
                                hovertemplate="iterate %{x}: %{y:.3g}<extra></extra>")
                     for row in lrp for curve in [row["result"].history["lrp_loss"].tolist()]])
    fig.update_layout(height=260, margin=dict(l=4, r=4, t=8, b=4), legend=dict(orientation="h", y=1, yanchor="bottom"),
                      xaxis_title="iterate (0: the input)",
                      yaxis_title=f"{'L_C' if level == 'coarse' else 'L_F'} (p = {p_text(p)})")
    return fig


def perturbation_pictures(rows: list[dict[str, Any]], same: bool) -> list[tuple[np.ndarray, float]]:
    """Each row's amplified perturbation and factor; with ``same`` one factor for all (the largest |η|)."""
    peak = max(float(np.abs(row["delta"]).max()) for row in rows) if same else None
    return [perturbation_image(row["delta"], peak) for row in rows]


# ---------------------------------------------------------------- one image: downloads


def comparison_files(stored, loaded, image, labels, level, before_maps, scale, pictures,
                     percentile) -> dict[str, bytes]:
    """One JSON and one NPZ for the whole comparison, a PNG of every map, perturbation and image, and
    a ZIP of all those PNGs."""
    s, _ = _symbols(level)
    h = loaded.info.hierarchy
    x = image.tensor[0].cpu().numpy()
    arrays = {"x": x, f"before_lrp_{s}_org": before_maps[0], f"before_lrp_{s}_adv": before_maps[1]}
    pngs = {f"before_lrp_{s}_org.png": png_bytes(colorize(before_maps[0], scale)),
            f"before_lrp_{s}_adv.png": png_bytes(colorize(before_maps[1], scale))}
    attacks = []
    for row, (picture, factor) in zip(stored["rows"], pictures):
        slug, result = column_slug(row["name"]), row["result"]
        arrays |= {f"{slug}_x_adv": result.x_adv[0].cpu().numpy(), f"{slug}_delta": row["delta"],
                   f"{slug}_lrp_{s}_org": row["maps"][0], f"{slug}_lrp_{s}_adv": row["maps"][1]}
        pngs |= {f"{slug}_lrp_{s}_org.png": png_bytes(colorize(row["maps"][0], scale)),
                 f"{slug}_lrp_{s}_adv.png": png_bytes(colorize(row["maps"][1], scale)),
                 f"{slug}_perturbation_x{factor:.3g}.png": png_bytes(picture),
                 f"{slug}_adversarial.png": png_bytes(row["adversarial"])}
        labels_after = result.labels
        attacks.append({
            "column": row["name"], "figures": row["figures"], "seconds": row["seconds"], "cached": row["cached"],
            "perturbation_amplification": factor, "after": row["after"],
            "fooled_after_8bit_rounding": row["fooled_8bit"],
            "label_names": {"coarse_after": h.coarse_names[int(labels_after["coarse_after"][0])],
                            "fine_after_within_r_org":
                                h.fine_names[labels["r_org"]][int(labels_after["fine_after"][0])]},
            "result": result.to_dict(),
        })
    report = provenance(loaded.info, loaded.device) | {
        "image": image.source_name, "image_digest": image.digest, "level": level,
        "labels": {k: v for k, v in labels.items() if k not in ("coarse_probs", "fine_probs", "fine_top")},
        "coarse_probabilities": dict(zip(h.coarse_names, labels["coarse_probs"])),
        "config": stored["config"].__dict__, "colour_scale": {"symmetric_max": scale, "percentile": percentile},
        "relevance": {"method": "lrp", **stored["config"].lrp_rules().params(), "summed_over": "channels"},
        "attacks": attacks,
        "label_notes": LABEL_NOTES,
    }
    npz = io.BytesIO()
    np.savez_compressed(npz, **arrays)
    return {"comparison.json": dumps(report).encode(), "comparison.npz": npz.getvalue(),
            "all_pngs.zip": W.zip_bytes(pngs), **pngs}


def downloads(stored, loaded, image, labels, level, before_maps, scale, same, percentile) -> None:
    files = stored["files"].get((scale, same))
    if files is None:  # encoded once per colour scale and amplification, not on every rerun
        files = stored["files"][scale, same] = comparison_files(stored, loaded, image, labels, level, before_maps,
                                                                 scale, stored["pictures"][same], percentile)
    prefix = f"{W.name_stem(image.source_name)}_{loaded.info.name}_{level}"
    st.markdown("**Downloads** (the whole comparison)")
    with st.container(horizontal=True, gap="small"):
        W.download_buttons({k: v for k, v in files.items() if not k.endswith(".png")}, prefix, key="c2f_dl")
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


# ---------------------------------------------------------------- page


def attack_form(level: str) -> tuple[bool, study.StudyConfig | None]:
    """The single-image attack form: (run now?, its config); warns where the settings are incomplete."""
    with st.form("c2f_form", border=True):
        config, problem = attack_settings("c2f", level)
        submitted = st.form_submit_button("Run attacks", type="primary", icon=":material/play_arrow:")
    if submitted and config is None:
        st.warning(problem)
    return submitted and config is not None, config


def _results_for(context: tuple) -> dict[str, Any] | None:
    """The shown results if they are of ``context`` (model, image digest, level, LRP target). When only the
    level or the target changed, the other results are kept aside, so switching back shows them again."""
    stored = st.session_state.get(RESULTS)
    if stored is not None and stored["context"] == context:
        return stored
    kept = {c: s for c, s in st.session_state.get(OTHER_LEVEL, {}).items() if c[:2] == context[:2]}
    if stored is not None and stored["context"][:2] == context[:2]:
        kept[stored["context"]] = stored
    stored = kept.pop(context, None)
    st.session_state[OTHER_LEVEL] = kept
    if stored is None:
        st.session_state.pop(RESULTS, None)
    else:
        st.session_state[RESULTS] = stored
    return stored


def main() -> None:
    st.title("Coarse-to-fine attacks", anchor=False)
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
                       help="Coarse: change C(x). Fine: change the fine decision within r_org while keeping r_org.")
    with right:
        percentile = W.scale_percentile_slider("c2f_scale_percentile")

    labels = _labels(loaded, info.model_id, image, image.digest)
    with left:
        target = target_picker(labels, level, info.hierarchy)
    labels = aimed_labels(labels, level, target, info.hierarchy)
    top1 = W.predictions(loaded, image, k=1)[0]
    if not any(top1.index in g for g in info.hierarchy.groups):
        st.caption(f":material/info: The flat classifier's top-1, {top1.name} ({top1.probability:.1%}), belongs to no "
                   f"coarse class of {info.hierarchy.name}; the coarse decision is the covered group with the "
                   "most probability.")
    context = (info.model_id, image.digest, level, target)
    stored = _results_for(context)
    before_slot = st.container()
    st.subheader("Attacks", anchor=False)
    if blank_images(image.tensor).any():
        st.error("This image is all black: its perceptibility ρ_p = ‖η‖_p / ‖x‖_p is undefined "
                 "(‖x‖_p = 0), so the attacks are not offered. Choose another image.")
        submitted = False
    else:
        submitted, config = attack_form(level)
    if submitted:
        with W.unfinished_mark(UNFINISHED, f"The {level}-level attacks on {image.source_name or 'the upload'}"):
            stored = run_comparison(loaded, image, labels, config) | {"context": context}
        st.session_state[RESULTS] = stored
    else:
        W.report_unfinished(UNFINISHED)

    shown = stored["config"] if stored else DEFAULT_CONFIG  # the rules and p of the maps after
    with before_slot, st.spinner("LRP maps of the input (the first one on a model takes longer)…"):
        before, before_terms = _maps(loaded, info.model_id, image.digest, image.tensor, _label_tuple(labels), level,
                                     shown.lrp_rules(), shown.lrp_p)
    maps = list(before) + [m for row in (stored["rows"] if stored else []) for m in row["maps"]]
    scale = shared_scale(maps, percentile)
    with before_slot:
        before_section(loaded, image, labels, level, before, before_terms, shown.lrp_p, scale)
    if stored is not None:
        results_section(stored, loaded, image, labels, level, before, before_terms, scale, percentile)
    table_section(loaded, image, level)


main()
