"""Attributes: why an attacked digit is misread, in attributes measured on the digit (seed 001, Gulshad et al.).

Thin page script: the attack, SJE, grounding and the study come from ``core`` (``core.studies.attributes`` and
``attributes_view``). The sidebar is ``dashboard.attributes.settings``, one digit's panels ``single``, the
study's figures ``study``. The last inspection lives in session state with what it ran on, so moving a
display widget never reruns it.
"""
from __future__ import annotations

import streamlit as st

from core.errors import InputError
from dashboard.attributes.settings import sidebar
from dashboard.attributes.single import Shown, draw, run
from dashboard.attributes.study import robust_available, study_section
from dashboard.widgets.models import load_model
from dashboard.widgets.runs import status_slot, visible_run
from dashboard.widgets.state import report_unfinished

RESULT = "attributes_result"

HELP = r"""
**Attributes measured on the digit** (after Morpho-MNIST): area, stroke length, thickness, slant, width, height,
number of holes, hole area above and below the middle, stroke ends and junctions, each standardised; a class's
attribute vector $\phi(y)$ is the mean over its training digits (assets/attributes/ATTRIBUTES.md defines each).

**SJE** learns $W$ so that $F(x, y) = \theta(x)^\top W \phi(y)$ ranks the true class first (eq. 3-4), with
$\theta(x)$ the model's penultimate features; it predicts the attributes $A = \theta(x) W$ (eq. 5), and the
*attribute-based classifier* answers the class whose $\phi(y)$ is nearest to $A$.

**The attack** is I-FGSM (eq. 1) on the general classifier only. The *most discriminative attributes* are those
with the largest $A_i - \phi(y)_i$ against the wrong class for the clean image (eq. 7) and $\hat A_i - \phi(y_n)_i$
against the true class for the attacked one (eq. 8). An attribute is **grounded** where the digit itself carries
it (it has a location, and its measured value lies on the side of the class mean SJE predicts); its mask shows
where, and the attribution of $A_i$ shows what the network looked at.
"""


def main() -> None:
    st.title("Attributes under attack", anchor=False)
    status = status_slot()
    st.caption("What a network's attributes say about a digit before and after an adversarial attack, and "
               "whether the digit carries them: for a standard and an adversarially trained model.")
    settings = sidebar()
    with st.expander("How to read this page"):
        st.markdown(HELP)
    if settings.role == "robust" and not robust_available():
        st.error("mnist_cnn_robust has no weights here: train them with `python -m core train mnist_cnn_robust`.")
        return
    loaded = load_model(settings.model)
    names = loaded.info.class_names
    context = (loaded.info.model_id, settings)
    with st.form("attributes_form", border=False):
        submitted = st.form_submit_button("Attack and explain", icon=":material/play_arrow:", type="primary")
    if submitted:
        try:
            with visible_run(status, "attributes", f"digit {settings.index} at eps {settings.eps:g}", None) as progress:
                st.session_state[RESULT] = Shown(context, run(loaded, settings, progress))
        except InputError as exc:
            st.error(str(exc))
    else:
        report_unfinished("attributes_unfinished", "Run it again.", status)
    shown = st.session_state.get(RESULT)
    if shown is not None:
        if shown.context != context:
            st.caption(":orange[Shown: the last run, with other settings; press Attack and explain for these.]")
        draw(shown, names)
    else:
        st.info("Press **Attack and explain** to attack this digit and see its attributes.")
    st.divider()
    standard = load_model("mnist_cnn")
    study_section(standard, load_model("mnist_cnn_robust") if robust_available() else None, status)


main()
