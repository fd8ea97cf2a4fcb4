"""Attributes: why an attacked digit is misread, in attributes measured on the digit (seed 001, Gulshad et al.).

Thin page script: the attack, SJE, grounding and the study come from ``core`` (``core.studies.attributes`` and
``attributes_view``). The sidebar is ``dashboard.attributes.settings``, one digit's panels ``single``, the
study's figures ``study``. The last inspection lives in session state with what it ran on, so moving a
display widget never reruns it.
"""
from __future__ import annotations

import streamlit as st

from core.attributes.matrix import load_digit_attributes
from core.errors import InputError
from core.studies.attributes import StudyConfig, dataset_data, digit_data
from core.studies.attributes_view import inspect
from dashboard.attributes.dataset import prepare
from dashboard.attributes.settings import sidebar
from dashboard.attributes.single import Shown, digit_labels, draw, run
from dashboard.attributes.study import digit_subjects, robust_available, study_section
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


def _inspect_digit(settings, status):
    loaded = load_model(settings.model)
    context = ("digits", loaded.info.model_id, settings)
    shown = _run_and_show(context, status, settings, lambda progress: run(loaded, settings, progress))
    if shown is not None:
        phi, _ = load_digit_attributes()
        draw(shown, loaded.info.class_names, phi.continuous, digit_labels())
    standard, robust = digit_subjects(load_model("mnist_cnn"),
                                      load_model("mnist_cnn_robust") if robust_available() else None)
    study_section(standard, robust, digit_data, status)


def _inspect_dataset(settings, status):
    loaded = load_model(settings.model)
    try:
        prepared = prepare(loaded, settings.dataset)
    except InputError as exc:
        st.error(str(exc))
        return
    data, attributes = prepared.data, prepared.dataset.attributes
    st.caption(f"{prepared.dataset.name} ({prepared.dataset.layout}): {len(prepared.dataset.labels)} images, "
               f"{len(attributes.classes)} classes, {len(attributes.names)} attributes; SJE and a head over your "
               f"classes fitted on {len(data.train_y)} of them with {settings.model}'s features, "
               f"{len(data.test_y)} held out." + (f" Left out: {len(prepared.dataset.skipped)} unreadable file(s)."
                                                  if prepared.dataset.skipped else ""))
    if settings.index >= len(data.test_y):
        st.error(f"Test image {settings.index} does not exist: the held-out split has {len(data.test_y)} images "
                 f"(0 to {len(data.test_y) - 1}).")
        return
    x, label = data.test_x[settings.index:settings.index + 1].to(loaded.device), int(data.test_y[settings.index])

    def work(progress):
        progress(0.3, f"I-FGSM at eps {settings.eps:g} and the attributions")
        return inspect(prepared.subject.model, prepared.sje, x, label, settings.eps, top=settings.top,
                       method=settings.method)

    context = ("dataset", prepared.subject.model_id, settings)
    shown = _run_and_show(context, status, settings, work)
    if shown is not None:
        draw(shown, attributes.classes, data.phi(StudyConfig()), attributes.names)
    study_section(prepared.subject, None, lambda n: dataset_data(prepared.dataset, n), status, "images",
                  len(data.test_y))


def _run_and_show(context, status, settings, work):
    """The form's button runs ``work(progress)`` visibly; the last result (with what it ran on) is returned."""
    with st.form("attributes_form", border=False):
        submitted = st.form_submit_button("Attack and explain", icon=":material/play_arrow:", type="primary")
    if submitted:
        try:
            with visible_run(status, "attributes", f"image {settings.index} at eps {settings.eps:g}", None) as progress:
                st.session_state[RESULT] = Shown(context, work(progress))
        except InputError as exc:
            st.error(str(exc))
    else:
        report_unfinished("attributes_unfinished", "Run it again.", status)
    shown = st.session_state.get(RESULT)
    if shown is None or shown.context[:2] != context[:2]:
        st.info("Press **Attack and explain** to attack this image and see its attributes.")
        return None
    if shown.context != context:
        st.caption(":orange[Shown: the last run, with other settings; press Attack and explain for these.]")
    return shown


def main() -> None:
    st.title("Attributes under attack", anchor=False)
    status = status_slot()
    st.caption("What a network's attributes say about an image before and after an adversarial attack, and "
               "whether the image carries them: for a standard and an adversarially trained model.")
    settings = sidebar()
    with st.expander("How to read this page"):
        st.markdown(HELP)
    if settings.source == "digits":
        if settings.role == "robust" and not robust_available():
            st.error("mnist_cnn_robust has no weights here: train them with "
                     "`python -m core train mnist_cnn_robust`.")
            return
        _inspect_digit(settings, status)
    else:
        _inspect_dataset(settings, status)


main()
