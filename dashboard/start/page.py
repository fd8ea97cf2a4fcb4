"""The start page: what xadv is, a card per study linking to its page, and the one-click classroom demo
(``dashboard.start.demo``). Nothing is computed before the demo's button is pressed."""
from __future__ import annotations

import streamlit as st

from core.studies.c2f_view import DEMO_CONFIG, DEMO_IMAGE, DEMO_MODEL
from dashboard.registry import pages
from dashboard.start.demo import run_demo, show_demo
from dashboard.widgets.runs import status_slot
from dashboard.widgets.state import report_unfinished

DEMO = "start_demo"  # the demo's results (a Demo), kept for a revisit
UNFINISHED = "start_demo_unfinished"  # the demo's run under way (visible_run "start_demo" marks it)

def study_cards() -> None:
    """One card per page (``dashboard.registry``) with a link to it."""
    built = [info for info in pages() if info.name != "start"]
    with st.container(horizontal=True, gap="small"):
        for info in built:
            with st.container(border=True, width=300):
                st.markdown(f"**{info.title}**")
                st.caption(info.summary)
                st.page_link(info.script, label=f"Open {info.title}", icon=info.icon)


def main() -> None:
    st.title("xadv: explainable adversarial attacks", anchor=False)
    status = status_slot()  # the demo's status line, at the top
    st.markdown(
        "xadv shows how an adversarial attack changes what a neural network attends to: it runs attacks and "
        "relevance maps (LRP, saliency, integrated gradients, DeepLIFT SHAP) on a model and an image, yours or "
        "a bundled one, and draws them before and after side by side. Each study page reproduces a paper's "
        "experiment and its table with the same code as the command line (`python -m core`). Everything runs "
        "offline on this machine, and results are cached, so a repeat takes seconds.")
    st.subheader("Studies", anchor=False)
    study_cards()
    st.subheader("Classroom demo", anchor=False)
    eps = DEMO_CONFIG.eps_255[0]
    st.markdown(
        f"One click: the photo *{DEMO_IMAGE}* on {DEMO_MODEL} at the coarse level (food, dog, vehicle, …), "
        f"attacked by LRPC at ε = {eps:g}/255, which targets the explanation, beside DeepFool and PGD, which "
        "target the decision only. The first run takes a while on a CPU (the status line at the top tells how long "
        "is left, measured on this machine); after that it comes from the cache in seconds.")
    if st.button("Run the classroom demo", type="primary", icon=":material/school:"):
        st.session_state[DEMO] = run_demo(status)
    else:
        report_unfinished(UNFINISHED, "Press the button again: what had finished comes from the cache.", status)
    demo = st.session_state.get(DEMO)
    if demo is not None:
        show_demo(demo, key="start_demo")


main()
