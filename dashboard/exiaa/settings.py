"""The eXIAA page's sidebar and form: the model, the image, the pool of candidate attack images (the gallery,
the MNIST digits, a folder on the server, uploads) and the attack's method, alpha and top-k."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core.data import LoadedImage, takes_digits
from core.data.pools import Pool, digit_pool, folder_pool, gallery_pool, images_pool
from core.models import DEFAULT_MODEL, REGISTRY, LoadedModel, ModelInfo
from core.studies import exiaa as study
from dashboard.widgets.explainers import METHOD_LABELS
from dashboard.widgets.images import image_uploads, pick_image, uploaded_images
from dashboard.widgets.models import image_models, model_availability, model_label, model_picker

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "imagenet-sample"  # ../shared/imagenet-sample
POOLS = {"digits": "MNIST digits (5,000)", "gallery": "Gallery photos", "folder": "A folder on this server",
         "uploads": "Uploaded images"}
MAX_POOL_UPLOADS = 500


def sidebar() -> tuple[LoadedModel, LoadedImage | None, Pool | None]:
    """Model, image and pool; the image or the pool is None where unusable (the reason shown in the main
    area, where the page would be)."""
    with st.sidebar:
        st.subheader("Model")
        names = image_models()
        name = st.selectbox("Model", names, index=names.index(DEFAULT_MODEL), key="exiaa_model",
                            format_func=model_label(model_availability()),
                            help="The attack sees the model only through its probabilities and explanations. "
                                 "mnist_cnn runs in seconds; efficientnet_lite0 (ImageNet) takes longer on a CPU.")
        st.caption(REGISTRY[name].description)
    loaded = model_picker(name, key="exiaa")
    refusal = st.empty()
    with st.sidebar:
        st.subheader("Image")
        image = pick_image(loaded.info, key="exiaa_image", errors=refusal)
        st.subheader("Pool of attack images")
        pool = pool_picker(loaded.info, refusal)
    return loaded, image, pool


@st.cache_resource(show_spinner="Reading the pool…", ttl=60, max_entries=4)
def _folder(path: str, size: int, crop_fraction: float, channels: int) -> Pool:
    return folder_pool(path, size=size, crop_fraction=crop_fraction, channels=channels)


@st.cache_resource(show_spinner=False, max_entries=4)
def _gallery(size: int, crop_fraction: float, channels: int) -> Pool:
    return gallery_pool(size=size, crop_fraction=crop_fraction, channels=channels)


@st.cache_resource(show_spinner=False)
def _digits() -> Pool:
    return digit_pool()


def pool_picker(info: ModelInfo, errors) -> Pool | None:
    """The candidate attack images (``core.data.pools``), loaded for the model's input; None, with the reason
    in ``errors``, where there are none."""
    digits = takes_digits(info.input)
    options = ["digits", "folder", "uploads"] if digits else ["gallery", "folder", "uploads"]
    source = st.radio("Pool", options, format_func=POOLS.get, key=f"exiaa_pool_source{'_digits' if digits else ''}",
                      help="The attack image is the pool image the model finds most probable for your image's "
                           "running-up class. The paper draws from 500 ImageNet classes: the folder "
                           f"{SAMPLE} holds one photo of each of 500 (a first pass predicts them all, once).")
    loading = info.input.loading()
    try:
        if source == "digits":
            return _digits()
        if source == "gallery":
            st.caption("Six photos: the running-up class rarely has one, and then the photo with the highest "
                       "probability for it is taken (the page says so). A folder gives the attack more to choose from.")
            return _gallery(**loading)
        if source == "folder":
            path = st.text_input("Folder path", value=str(SAMPLE), key="exiaa_pool_folder",
                                 help="A folder of image files on the machine running the dashboard.").strip()
            return _folder(str(Path(path or ".").expanduser().resolve()), **loading)
        files = image_uploads("exiaa_pool_upload", "Upload pool images", multiple=True)
        if not files:
            st.info("Upload the images the attack may choose from.")
            return None
        images, skipped = uploaded_images(files[:MAX_POOL_UPLOADS], info, "exiaa_pool_loaded")
        for why in skipped:
            st.caption(f":orange[Left out {why}]")
        return images_pool(f"your {len(images)} uploaded images", images)
    except ValueError as exc:
        errors.error(str(exc))
        return None


@dataclass(frozen=True)
class AttackSettings:
    method: str
    alpha: float
    top_k: float


def attack_form() -> tuple[bool, AttackSettings]:
    """The one attack's method, alpha and top-k (a form: changing them runs nothing until submitted)."""
    with st.form("exiaa_form", border=True):
        left, mid, right = st.columns([1.2, 1, 1])
        method = left.selectbox("Explanation method", study.METHODS, format_func=METHOD_LABELS.get,
                                key="exiaa_method",
                                help="The same method explains your image, the attack image and the corrupted "
                                     "image (integrated gradients: 50 steps, so 50 times the work of saliency).")
        alpha = mid.select_slider("α (weight of the attack image, eq. 5)", study.ALPHAS, value=0.15,
                                  key="exiaa_alpha", format_func=lambda a: f"{a:g}",
                                  help="x̂ = (1 − α) x + α x̄ on the injected entries, clipped to [0, 1]. The "
                                       "paper's grid: 0.03 to 0.15.")
        top_k = right.select_slider("top-k (share of x̄'s positive entries)", study.TOP_KS, value=0.3,
                                    key="exiaa_top_k", format_func=lambda k: f"{k:g}",
                                    help="The injected entries: the ceil(k·P) entries (over channels and pixels) "
                                         "with the largest attribution of the P positive ones of x̄'s explanation.")
        submitted = st.form_submit_button("Run eXIAA", type="primary", icon=":material/play_arrow:")
    return submitted, AttackSettings(method, float(alpha), float(top_k))
