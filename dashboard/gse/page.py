"""GSE and sparse attacks (seed 003, the GSE half): one image attacked by GSE, StrAttack, FWnucl and FBS with a
chosen p, drawn as the talk's Figure 3 in the compact grid with the class activation map, each attack's
figures beside its row; below, IS against the percentile nu (Figure 2) from a study run on test digits or
the ImageNet sample. Thin: the attacks, figures and pictures come from ``core`` (``core.studies.gse_view``,
``core.studies.gse``); results live in session state with what they ran on."""
from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import streamlit as st
import torch

from core.attacks.gse import PRESETS, Preset, preset_for
from core.data import load_folder, takes_digits
from core.errors import InputError
from core.explain.explanation import classifier
from core.models import DEFAULT_MODEL
from core.studies import gse as study
from core.studies import gse_view as view
from core.wording import class_label
from dashboard.widgets.grid import GridRow, Picture, draw_grid
from dashboard.widgets.images import pick_image
from dashboard.widgets.models import image_models, model_availability, model_label, model_picker
from dashboard.widgets.runs import status_slot, visible_run
from dashboard.widgets.state import report_unfinished, result_cache

RESULT, CURVE = "gse_result", "gse_curve"
SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "imagenet-sample"
COLUMNS = ["adversarial image", "perturbed pixels (red)", "perturbation ×5", "CAM of the class"]

HELP = r"""
**GSE** (Sadiku, Wagner and Pokutta, ICLR 2025) first runs forward-backward splitting on
$\mathcal L(x+w, t) + \lambda \|w\|_{1/2}^{1/2}$ with a $\lambda$ per pixel that AdjustLambda lowers near perturbed
pixels (a Gaussian blur of the mask, $\bar M = M + 1$) and raises elsewhere ($/q$). After $\hat k$ iterations the
pixel set $V$ is fixed and projected NAG minimises $\mathcal L + \mu \|w\|_2^2$ on $V$ only, so the changes come
in few clusters. **StrAttack** (ADMM with group sparsity) and **FWnucl** (Frank-Wolfe in a nuclear group-norm
ball) are the paper's group-sparse baselines; **FBS** is the first step alone with the $\ell_p$ prox of your p.
The figures: changed pixels (channels collapsed), 4-connected clusters, $\ell_2$, $d_{2,0}$ (non-zero 8×8
patches). A good group-sparse attack fools the model with few pixels in few clusters where the CAM is warm.
"""


def sidebar():
    with st.sidebar:
        st.subheader("Model")
        names = image_models()
        name = st.selectbox("Model", names, index=names.index("mnist_cnn" if "mnist_cnn" in names else DEFAULT_MODEL),
                            key="gse_model", format_func=model_label(model_availability()),
                            help="mnist_cnn attacks in seconds; efficientnet_lite0 (ImageNet) takes minutes on a CPU.")
    loaded = model_picker(name, key="gse")
    refusal = st.empty()
    with st.sidebar:
        st.subheader("Image")
        image = None
        if not takes_digits(loaded.info.input) and SAMPLE.is_dir() and st.toggle(
                "A photo of the ImageNet sample", key="gse_use_sample", help=str(SAMPLE)):
            files = sorted(p.name for p in SAMPLE.iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
            chosen = st.selectbox("Photo", files, key="gse_sample_file")
            image = load_folder_image(str(SAMPLE / chosen), loaded.info)
        else:
            image = pick_image(loaded.info, key="gse_image", errors=refusal)
    return loaded, image


@st.cache_resource(show_spinner=False, max_entries=8)
def _sample(path: str, size: int, crop_fraction: float, channels: int):
    from core.data import load_image

    return load_image(path, size=size, crop_fraction=crop_fraction, channels=channels)


def load_folder_image(path: str, info):
    return _sample(path, **info.input.loading())


def form(classes: int, preset: Preset):
    """The attacks' settings; GSE's q, mu and k_hat left empty take ``preset`` (shown as the placeholder)."""
    with st.form("gse_form", border=True):
        a, b, c, d = st.columns(4)
        mode = a.radio("Goal", ["untargeted", "target class"], key="gse_mode", horizontal=True)
        target = a.number_input("Target class", 0, classes - 1, 0, key="gse_target")
        q = b.number_input("q", 0.01, 1.0, None, key="gse_q", placeholder=f"preset: {preset.q:g}",
                           help="Empty: the preset for the input size.")
        mu = b.number_input("mu", 0.0, 100.0, None, key="gse_mu", placeholder=f"preset: {preset.mu:g}",
                            help="Empty: the preset for the input size.")
        k_hat = c.number_input("k_hat", 0, 1000, None, key="gse_khat",
                               placeholder=f"preset: {preset.k_hat} ({preset.k_hat_targeted} targeted)",
                               help="Empty: the preset for the input size.")
        steps = c.number_input("iterations", 10, 1000, 200, key="gse_steps")
        fraction = d.number_input("lambda_0 fraction", 0.0001, 1.0, 0.01, format="%.4f", key="gse_lam",
                                  help="lambda_0 as a fraction of the largest lambda that leaves a pixel changed "
                                       "after the first step; the search moves it from there.")
        search = d.number_input("lambda searches", 1, 20, 10, key="gse_search")
        p = a.selectbox("FBS p", [0.0, 0.5, 2 / 3, 1.0], index=1, key="gse_p",
                        format_func=lambda v: {0.0: "0", 0.5: "1/2", 2 / 3: "2/3", 1.0: "1"}[v])
        submitted = st.form_submit_button("Run the four attacks", type="primary")
    gse = {"steps": int(steps), "search_steps": int(search), "lam_fraction": float(fraction)}
    gse |= {k: v for k, v in (("q", q), ("mu", mu), ("k_hat", None if k_hat is None else int(k_hat))) if v is not None}
    defaults = study.StudyConfig()  # the study's StrAttack c (the code's 0.25 fools few digits)
    settings = {"GSE": gse, "StrAttack": {"steps": int(steps), "search_steps": 4, "c": defaults.strattack_c},
                "FWnucl": {"steps": int(steps), "step_rule": "open"}, "FBS": {"p": p, "steps": int(steps)}}
    return submitted, (int(target) if mode == "target class" else None), settings


def draw(shown, loaded, image) -> None:
    names = loaded.info.class_names
    model = classifier(loaded)
    x = image.tensor.to(loaded.device)
    cam = view.cam_for(model, x, shown["label"])
    rows = []
    for name, result in shown["results"].items():
        f = view.figures_of(model, result)
        delta = result.delta[0]
        rows.append(GridRow([Picture(view.to_uint8(result.x_adv[0]), f"{name}: adversarial image"),
                             Picture(view.red_pixels(x[0], delta), f"{name}: perturbed pixels"),
                             Picture(view.amplified(delta), f"{name}: perturbation x5"),
                             Picture(view.cam_overlay(x[0], cam), "CAM of the image's class")],
                            f"**{name}**: " + f.text(lambda k: class_label(names[k], k))))
    draw_grid(COLUMNS, rows, key="gse_grid")


def curve_section(loaded, status) -> None:
    st.subheader("Interpretability score against nu (Figure 2)", anchor=False)
    digits = takes_digits(loaded.info.input)
    n = st.number_input("Images", 1, 100, 10 if digits else 3, key="gse_curve_n",
                        help="MNIST test digits, or the first photos of the ImageNet sample.")
    if st.button("Run the study"):  # no key: keep_page_settings writes keyed values back, a button refuses that
        try:
            with visible_run(status, "gse_curve", f"GSE study on {n} images", None) as progress:
                if digits:
                    from core.data import load_digits
                    from core.data.mnist import digit_label

                    images = load_digits(int(n))
                    labels = torch.tensor([digit_label(i) for i in range(int(n))])
                else:
                    images, _ = load_folder(SAMPLE, **loaded.info.input.loading())
                    images = images[: int(n)]
                    labels = None
                x = torch.cat([im.tensor for im in images]).to(loaded.device)
                config = study.StudyConfig(strattack_search_steps=4, fwnucl_step_rule="open")
                st.session_state[CURVE] = study.evaluate(
                    classifier(loaded), x, labels, config, image_names=[im.source_name or "?" for im in images],
                    image_digests=[im.digest for im in images], model_id=loaded.info.model_id, cache=result_cache(),
                    progress=progress)
        except InputError as exc:
            st.error(str(exc))
    result = st.session_state.get(CURVE)
    if result is None:
        return
    fig = go.Figure([go.Scatter(x=list(result.config.percentiles), y=[c.figures[f"is_{p}"]
                                for p in result.config.percentiles], name=c.name, mode="lines+markers")
                     for c in result.columns])
    fig.update_layout(xaxis_title="percentile nu", yaxis_title="IS", height=300, margin=dict(t=10, b=10))
    st.plotly_chart(fig, key="gse_curve_fig")
    st.code(result.format(), language=None)


def main() -> None:
    st.title("GSE: group-wise sparse attacks", anchor=False)
    status = status_slot()
    st.caption("GSE changes few pixels, in few clusters, where the model looks; StrAttack, FWnucl and FBS beside it.")
    loaded, image = sidebar()
    if image is None:
        st.info("Choose an image in the sidebar.")
        return
    with st.expander("How to read this page"):
        st.markdown(HELP)
    submitted, target, settings = form(len(loaded.info.class_names), PRESETS[preset_for(image.tensor)])
    context = (loaded.info.model_id, image.digest, target, repr(settings))
    if submitted:
        model = classifier(loaded)
        x = image.tensor.to(loaded.device)
        with torch.no_grad():
            label = int(model(x).argmax(1)[0])
        try:
            with visible_run(status, "gse", "GSE, StrAttack, FWnucl and FBS", None) as progress:
                results = view.run_all(model, x, label, target, settings, progress)
            st.session_state[RESULT] = {"context": context, "label": label, "results": results}
        except InputError as exc:
            st.error(str(exc))
    else:
        report_unfinished("gse_unfinished", "Run it again.", status)
    shown = st.session_state.get(RESULT)
    if shown is not None and shown["context"][:2] == context[:2]:
        draw(shown, loaded, image)
    elif not submitted:
        st.info("Press **Run the four attacks**.")
    curve_section(loaded, status)


main()
