"""The Attributes page's study section: over the first n test digits, both classifiers' accuracy against eps
for the standard and the robust model (Figure 4), the distances d1 / d2 (Figures 5 and 7) and the robust
ratio R (Figure 9), run visibly, cached, kept in session state, with the tables and the JSON."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from core.errors import InputError
from core.serialize import dumps
from core.studies.attributes import ACCURACY_ROWS, StudyConfig, Subject, evaluate
from dashboard.widgets.downloads import download_buttons
from dashboard.widgets.models import model_availability
from dashboard.widgets.runs import visible_run
from dashboard.widgets.state import result_cache

RESULT = "attributes_study_result"
COLOURS = {"standard": "#1f77b4", "robust": "#9467bd"}


def _figure4(result) -> go.Figure:
    table, eps = result.accuracy(), [0.0, *result.config.eps]
    fig = go.Figure()
    for row in ACCURACY_ROWS:
        kind, role = row.key.split("_")
        values = [table[row.key][c] for c in result.columns()]
        if all(v is None for v in values):
            continue
        fig.add_scatter(x=eps, y=values, name=f"{kind}, {role}", mode="lines+markers",
                        line=dict(color=COLOURS[role], dash="solid" if kind == "general" else "dot"))
    fig.update_layout(height=300, title="Figure 4: accuracy (%) against eps", xaxis_title="eps",
                      yaxis_title="accuracy (%)", margin=dict(l=10, r=10, t=40, b=10))
    return fig


def _histograms(distances: dict | None, title: str) -> go.Figure | None:
    if distances is None or len(distances["d1"]) == 0:
        return None
    fig = go.Figure([go.Histogram(x=distances["d1"].cpu().numpy(), name="d1", opacity=0.6),
                     go.Histogram(x=distances["d2"].cpu().numpy(), name="d2", opacity=0.6)])
    fig.update_layout(barmode="overlay", height=260, title=title, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis_title="distance", yaxis_title="images")
    return fig


def _figure9(result) -> go.Figure:
    table = result.ratios()
    fig = go.Figure([go.Scatter(x=list(result.config.eps), y=[table[kind][c] for c in result.columns()[1:]],
                                name=kind, mode="lines+markers") for kind in ("general", "attribute")])
    fig.update_layout(height=260, title="Figure 9: robust ratio R = L_R / L_S", xaxis_title="eps",
                      margin=dict(l=10, r=10, t=40, b=10))
    return fig


def digit_subjects(standard, robust) -> tuple[Subject, Subject | None]:
    """The study's subjects on the digits: mnist_cnn and, where its weights are here, mnist_cnn_robust."""
    return (Subject("standard", standard.model, standard.info.model_id),
            None if robust is None else Subject("robust", robust.model, robust.info.model_id))


def study_section(standard: Subject, robust: Subject | None, data_for, status, what: str = "digits",
                  most: int = 1000) -> None:
    """The study on the first n of ``data_for(n)``'s test images (``what``), for both subjects."""
    st.subheader(f"The study over many {what}", anchor=False)
    models = " and ".join(s.model_id.split("/")[0] for s in (standard, robust) if s is not None)
    st.caption(f"I-FGSM with true labels on the first n test {what} at the paper's eps 0.01, 0.06 and 0.12, "
               f"against {models}, each with its own SJE. Attacks are cached: a rerun takes seconds.")
    with st.form("attributes_study_form", border=False):
        key = f"attributes_study_n_{what}"
        if st.session_state.get(key, 0) > most:  # kept from a larger dataset
            st.session_state[key] = most
        n = st.slider(what.capitalize(), 1, max(most, 2), min(100, most), key=key)
        go_ = st.form_submit_button("Run the study", icon=":material/play_arrow:")
    if go_:
        config = StudyConfig(n=int(n))
        try:
            with visible_run(status, "attributes_study", f"the attributes study on {n} {what}", None) as progress:
                st.session_state[RESULT] = evaluate(standard, data_for(config.n), config, robust=robust,
                                                    cache=result_cache(), progress=progress)
        except InputError as exc:
            st.error(str(exc))
    result = st.session_state.get(RESULT)
    if result is not None and result.standard.model_id != standard.model_id:
        result = None  # another model's or dataset's study
    if result is None:
        st.info("Press **Run the study** for the paper's Figures 4, 5, 7 and 9 on the digits.")
        return
    if result.robust is None:
        st.caption("No robust model here: Figures 7 and 9 need one (digits: `python -m core train mnist_cnn_robust`).")
    left, right = st.columns(2)
    with left:
        st.plotly_chart(_figure4(result), key="attributes_fig4")
    with right:
        if result.robust is not None:
            st.plotly_chart(_figure9(result), key="attributes_fig9")
    eps = st.columns(3)[0].select_slider("Distances at eps", options=list(result.config.eps),
                                         value=max(result.config.eps), key="attributes_study_eps")
    left, right = st.columns(2)
    for column, figure in ((left, _histograms(result.figure5(eps), "Figure 5: turned images, standard model")),
                           (right, _histograms(result.figure7(eps), "Figure 7: recovered by the robust model"))):
        with column:
            if figure is None:
                st.caption("No image in this group at this eps.")
            else:
                st.plotly_chart(figure, key=f"attributes_hist_{figure.layout.title.text[:8]}")
    with st.expander("Tables (ours beside the numbers the paper's text gives)"):
        st.markdown(result.format(markdown=True))
    download_buttons({"study.json": dumps(result.to_dict()).encode()}, "attributes", key="attributes_study_dl")
    st.caption("The exact adversarial images and every answer: `python -m core attributes-eval --npz FILE`.")


def robust_available() -> bool:
    return bool(model_availability().get("mnist_cnn_robust", {}).get("offline"))

