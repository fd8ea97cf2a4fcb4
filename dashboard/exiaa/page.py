"""eXIAA: a black-box one-step attack on explanations (seed 002), beside its Gaussian baseline.

Thin page script: the attack, its figures and the study come from ``core`` (``core.attacks.exiaa``,
``core.studies.exiaa``, ``exiaa_view``). The sidebar and the form are ``dashboard.exiaa.settings``, the one
attack ``dashboard.exiaa.single``, the grid and Figure 5 ``dashboard.exiaa.study``. The last attack lives in
``st.session_state`` with what it ran on, so moving a display widget never reruns it.
"""
from __future__ import annotations

import streamlit as st

from core.errors import InputError
from dashboard.exiaa.settings import attack_form, sidebar
from dashboard.exiaa.single import draw, run_attack
from dashboard.exiaa.study import grid_section
from dashboard.widgets.figures import scale_percentile_slider
from dashboard.widgets.runs import status_slot, visible_run
from dashboard.widgets.state import report_unfinished

RESULT = "exiaa_result"

HELP = r"""
**The attack** (Pesce, Wei and Mengaldo, eXIAA). It sees the model only through its probabilities and the
explanations of a method. (1) It takes your image's prediction $y^*$ and its running-up class $y_r$ (the most
probable other class), and from the pool the image $\bar x$ the model finds most probable for $y_r$ (among those
it predicts as $y_r$; where none is, the most probable for it). (2) It explains $\bar x$ for $y_r$ and keeps the
top-k share $I_k$ of its positive entries (over channels and pixels). (3) It blends them in, eq. 5:
$\hat x = \mathrm{clip}((1-\alpha)\,x + \alpha\,\bar x)$ on $I_k$, $x$ elsewhere. One step, no gradients.

**The baseline**: Gaussian noise $\mathcal N(0.5, 0.25^2)$ blended the same way at the same $\alpha$ on as many
randomly chosen entries (seeded).

**The figures.** Explanation change $= 100 \sum|z - \hat z| / \sum|z|$ between the original's explanation $z$
(for $y^*$) and the corrupted image's $\hat z$ (for its own prediction), SSIM between $x$ and $\hat x$, and the
change of $f_{y^*}$ in percentage points. A good attack moves the explanation a lot (above the baseline) while
SSIM stays near 1 and the prediction barely moves.
"""


def main() -> None:
    st.title("eXIAA: injections against explanations", anchor=False)
    status = status_slot()
    st.caption("A black-box one-step attack: features of an image of the running-up class, injected where its "
               "explanation is strongest, change your image's explanation while the image and the prediction "
               "barely move. Beside it, Gaussian noise on as many entries.")
    loaded, image, pool = sidebar()
    if image is None or pool is None:
        st.info("Choose an image and a pool of attack images in the sidebar.")
        return
    with st.expander("How to read this page"):
        st.markdown(HELP)
    names = loaded.info.class_names
    percentile = scale_percentile_slider("exiaa_scale_percentile")
    submitted, settings = attack_form()
    context = (loaded.info.model_id, image.digest, pool.content, settings)
    if submitted:
        try:
            with visible_run(status, "exiaa", f"eXIAA on {image.source_name or 'the upload'}", None) as progress:
                st.session_state[RESULT] = run_attack(loaded, image, pool, settings, context, progress)
        except InputError as exc:
            st.error(str(exc))
    else:
        report_unfinished("exiaa_unfinished", "Run it again (the pool's pass is cached once it has finished).",
                          status)
    shown = st.session_state.get(RESULT)
    if shown is not None and shown.context[:3] == context[:3]:
        if shown.context != context:
            st.caption(":orange[Shown: the last run, with other settings; press Run eXIAA for these.]")
        draw(shown, image, names, percentile)
    elif not submitted:
        st.info("Press **Run eXIAA** to attack this image (the first run on a pool predicts all of its images once).")
    grid_section(loaded, image, pool, settings.method, status)


main()
