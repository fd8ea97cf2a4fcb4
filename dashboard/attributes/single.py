"""One digit on the Attributes page: clean and attacked side by side, both classifiers' answers, the most
discriminative attributes as bars (predicted beside the true and the wrong class's values), and each one's
grounding (its location mask, the attribution of A_i, the share of relevance inside the mask)."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.attributes.matrix import load_digit_attributes
from core.attributes.morphometry import ATTRIBUTES
from core.data import load_digit
from core.explain.heatmap import scale_of
from core.studies.attributes import StudyConfig, Subject, digit_data, fitted_sje
from core.studies.attributes_view import Inspection, Side, inspect
from dashboard.widgets.downloads import download_buttons
from dashboard.widgets.grid import GridRow, MapCell, Picture, draw_grid
from dashboard.widgets.state import result_cache

GROUNDED, UNGROUNDED = np.array([255, 140, 0]), np.array([120, 150, 200])  # mask tints


@dataclass(frozen=True)
class Shown:
    """The last inspection and what it ran on."""

    context: tuple
    inspection: Inspection


@st.cache_resource(show_spinner="Fitting SJE on the model's features of the training digits…", max_entries=4)
def sje_for(_model, model_id: str):
    """The page's SJE for a model: the study's, at its default settings (cached on disk as well)."""
    return fitted_sje(Subject("page", _model, model_id), digit_data(1), StudyConfig(), result_cache())


def run(loaded, settings, progress) -> Inspection:
    """One digit: SJE (cached), the attack, the attributes measured and grounded."""
    progress(0.1, "SJE on the training features")
    sje = sje_for(loaded.model, loaded.info.model_id)
    progress(0.4, f"I-FGSM at eps {settings.eps:g}, attributes and their grounding")
    x = load_digit(settings.index).tensor.to(loaded.device)
    _, standardise = load_digit_attributes()
    return inspect(loaded.model, sje, x, settings.label, settings.eps, top=settings.top, standardise=standardise,
                   method=settings.method)


def digit_labels() -> list[str]:
    return [a.label for a in ATTRIBUTES]


def _tinted(x: np.ndarray, mask: np.ndarray, grounded: bool) -> np.ndarray:
    grey = np.repeat((x * 255).astype(np.uint8)[..., None], 3, axis=2)
    tint = GROUNDED if grounded else UNGROUNDED
    grey[mask] = (0.45 * grey[mask] + 0.55 * tint).astype(np.uint8)
    return grey


def _row(side: Side, what: str, names, class_names) -> GridRow:
    """The image, then per selected attribute its mask (where measured) and its attribution."""
    g = side.grounding
    x = side.x[0, 0].detach().cpu().numpy()
    cells: list = [Picture(_rgb(side.x), what)]
    lines = [f"**{what}**: general **{class_names[side.general]}**, attribute-based "
             f"**{class_names[side.attribute]}**"]
    for j, i in enumerate(side.indices):
        relevance = g.relevance[0, j].cpu().numpy()
        attribution = MapCell(relevance, scale_of([relevance]), f"{g.method} of A[{names[i]}]")
        if g.masks is None:  # a user's dataset: nothing measured, attribution only
            cells.append(attribution)
            lines.append(f"{j + 1}. {names[i]}: A = {float(g.predicted[0, j]):.2f}")
            continue
        grounded = bool(g.grounded[0, j])
        cells += [Picture(_tinted(x, g.masks[0, j].cpu().numpy(), grounded), f"{names[i]}: {ATTRIBUTES[i].mask}"),
                  attribution]
        mark = ":orange[**grounded**]" if grounded else (":gray[not on the image]" if not bool(g.present[0, j])
                                                        else ":gray[not grounded]")
        lines.append(f"{j + 1}. {names[i]}: {mark}, {float(g.inside_share[0, j]):.0%} in mask")
    return GridRow(cells, "  \n".join(lines))


def _bars(side: Side, phi, names, label: int, wrong: int, class_names, title: str) -> go.Figure:
    labels = [names[i] for i in side.indices]
    fig = go.Figure([
        go.Bar(name="predicted A_i", x=labels, y=[float(side.attributes[i]) for i in side.indices],
               marker_color="#1f77b4"),
        go.Bar(name=f"phi({class_names[label]}), true", x=labels, y=[float(phi[label, i]) for i in side.indices],
               marker_color="#2ca02c"),
        go.Bar(name=f"phi({class_names[wrong]}), wrong", x=labels, y=[float(phi[wrong, i]) for i in side.indices],
               marker_color="#d62728")])
    fig.update_layout(barmode="group", height=250, title=dict(text=title, font=dict(size=13)),
                      margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.25),
                      yaxis_title="standardised")
    return fig


def _rgb(x) -> np.ndarray:
    image = x[0].detach().cpu().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    return image[..., 0] if image.shape[2] == 1 else image


def draw(shown: Shown, class_names, phi, names) -> None:
    """The verdict, the grid (clean and adversarial rows), the bars and the JSON; ``phi`` the class-attribute
    matrix (C, K), ``names`` the attributes' labels."""
    v = shown.inspection
    verdict = (f"I-FGSM at eps {v.eps:g} turns the {class_names[v.label]} into a **{class_names[v.wrong]}**."
               if v.fooled else f"I-FGSM at eps {v.eps:g} does not change the general classifier's answer "
                                f"(**{class_names[v.adversarial.general]}**); the wrong class compared is the "
                                f"clean image's runner-up, {class_names[v.wrong]}.")
    st.markdown(verdict)
    k = len(v.clean.indices)
    measured = v.clean.grounding.masks is not None
    columns = ["image"] + [t for j in range(k) for t in ((f"#{j + 1} mask",) if measured else ())
                           + (f"#{j + 1} attribution",)]
    draw_grid(columns, [_row(v.clean, "clean", names, class_names), _row(v.adversarial, "adversarial", names,
                                                                         class_names)], key="attributes_grid")
    st.caption(("Masks: :orange[orange] where the attribute is grounded (the digit has it, on the side SJE "
                "predicts), blue where SJE predicts it but the digit does not carry it. " if measured else
                f":orange[{v.clean.grounding.label}]: your dataset's attributes are not measured on the images, "
                f"so nothing is grounded. ") + f"Attribution: "
               f"{v.clean.grounding.method} of the predicted attribute A_i, each map on its own scale (red "
               f"positive)" + ("; 'in mask': the share of its positive relevance inside the mask" if measured else "")
               + ". Clean: eq. 7 against "
               f"phi({class_names[v.wrong]}); adversarial: eq. 8 against "
               f"phi({class_names[v.label]}).")
    left, right = st.columns(2)
    with left:
        st.plotly_chart(_bars(v.clean, phi, names, v.label, v.wrong, class_names,
                              "clean: most discriminative (eq. 7)"), key="attributes_bars_clean")
    with right:
        st.plotly_chart(_bars(v.adversarial, phi, names, v.label, v.wrong, class_names,
                              "adversarial: most discriminative (eq. 8)"), key="attributes_bars_adv")
    st.caption("A_i is on SJE's own scale: its ranking loss (eq. 4) fixes how A points relative to the classes' "
               "phi, not its size, so compare each bar's sign and the two phi bars with each other.")
    record = {"label": v.label, "wrong": v.wrong, "eps": v.eps, "fooled": v.fooled} | {
        side: {"general": s.general, "attribute": s.attribute, "attributes": dict(zip(names, s.attributes.tolist())),
               "selected": [names[i] for i in s.indices], "differences": list(s.differences),
               "grounded": None if s.grounding.grounded is None else s.grounding.grounded[0].tolist(),
               "inside_share": None if s.grounding.inside_share is None else s.grounding.inside_share[0].tolist(),
               "grounding": s.grounding.label}
        for side, s in (("clean", v.clean), ("adversarial", v.adversarial))}
    download_buttons({"attributes.json": json.dumps(record, indent=2).encode()}, f"digit_{v.label}",
                     key="attributes_dl")
