"""Small Streamlit widgets shared by the dashboard's pages.

Everything here is UI: loading goes through ``core.models.load``, images through ``core.data``,
colour scales through ``core.explain.heatmap``. Models and the result cache are process-wide
resources (``st.cache_resource``); nothing is computed at import.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from core.cache import ResultCache, default_directory
from core.data import (
    LoadedImage,
    digit_label,
    gallery_description,
    gallery_names,
    load_digit,
    load_gallery,
    load_image,
    split_size,
    takes_digits,
)
from core.errors import WeightsUnavailableError
from core.explain import COMPOSITES
from core.explain.explanation import classifier, method_defaults
from core.explain.gradients import BASELINES, SHAP_BASELINES
from core.explain.heatmap import PLOTLY_SCALE
from core.explain.lrp import INITS
from core.explain.rules import SIGNED_INPUTS
from core.models import LoadedModel, ModelInfo, Prediction, availability, load, top_k
from core.models.locks import model_lock
from core.models.registry import file_digest, fitting_hierarchies
from core.wording import counted

IMAGE_TYPES = ["png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp"]
WEIGHT_TYPES = ["pt", "pth"]
WEIGHTS_MAX_MB = 1024  # torchvision's VGG-16 is 528 MB; .streamlit/config.toml's maxUploadSize must allow it
IMAGE_MAX_MB = 25  # per uploaded image
DEFAULT_GALLERY = "chelsea"
MIME = {".png": "image/png", ".npz": "application/octet-stream", ".json": "application/json",
        ".zip": "application/zip"}
METHOD_LABELS = {
    "lrp": "LRP",
    "saliency": "Saliency",
    "integrated_gradients": "Integrated gradients",
    "deeplift_shap": "DeepLIFT SHAP",
}
SIGN_HELP = ("Red: positive relevance, the pixel speaks for the target class. Blue: negative relevance, "
             "it speaks against it. White: no contribution.")
RELEVANCE_HELP = SIGN_HELP + " Saliency (absolute gradient) has no sign."


# ---------------------------------------------------------------- process-wide resources


@st.cache_resource(show_spinner="Loading model…", max_entries=8)
def _load_model(name: str, hierarchy: str | None, weights_bytes_digest: str | None,
                weights_path: str | None) -> LoadedModel:
    return load(name, hierarchy=hierarchy, weights_path=weights_path)


def load_model(name: str, hierarchy: str | None = None, weights_bytes_digest: str | None = None,
               weights_path: str | None = None) -> LoadedModel:
    """``core.models.load``, once per process and argument set (``weights_bytes_digest`` keys uploads).

    Errors (no weights, a file that does not fit, a hierarchy for other classes) are shown with
    core's message, which says how to fix them, and the page stops there.
    """
    try:
        return _load_model(name, hierarchy, weights_bytes_digest, weights_path)
    except ValueError as exc:  # WeightsUnavailableError, InputError
        st.error(str(exc))
        if isinstance(exc, WeightsUnavailableError):
            st.info("Give the model a state-dict file under **Own weights** in the sidebar.")
        st.stop()


@st.cache_resource(show_spinner=False)
def _cache_at(directory: str) -> ResultCache:
    return ResultCache(directory)


def result_cache() -> ResultCache:
    """The persistent result cache (``$XADV_CACHE_DIR`` or ``~/.cache/xadv``), one per directory."""
    return _cache_at(str(default_directory()))


@st.cache_data(show_spinner=False, ttl=60)
def model_availability() -> dict[str, dict]:
    """``core.models.availability()`` by model name (re-checked every minute: files may appear)."""
    return {row["name"]: row for row in availability()}


# ---------------------------------------------------------------- model


def weights_input(name: str, *, key: str = "model") -> tuple[str | None, str | None]:
    """Controls in the sidebar for a local state-dict file for model ``name``: ``(upload digest, path)`` or Nones.

    An upload is written to a temporary file named by its content (core reads it with
    ``weights_only=True``), once, and kept across pages (``kept_uploads``); large files (torchvision's are
    45-530 MB) can also be named by path. A file in the uploader comes first, then a typed path, then an
    upload kept from before a page change.
    """
    offline = model_availability().get(name, {}).get("offline", False)
    with st.sidebar.expander("Own weights (state-dict file)", expanded=not offline):
        st.caption("A PyTorch state dict for this architecture; read as tensors only, nothing is unpickled.")
        widget = f"{key}_weights_{name}"
        upload = kept_uploads(widget, "Upload .pt / .pth", types=WEIGHT_TYPES, max_mb=WEIGHTS_MAX_MB,
                              keep=_kept_weights)
        local = st.text_input("…or a path on the machine running the dashboard", key=f"{key}_weights_path_{name}",
                              placeholder="/path/to/weights.pth").strip()
    if upload and (holds_upload(widget) or not local):
        [(_, digest, path)] = upload
        return digest, path
    if local:
        path = Path(local).expanduser()
        # keyed by content too, so a file replaced at the same path is loaded again
        return (file_digest(path) if path.is_file() else None), str(path)
    return None, None


def model_picker(name: str, hierarchy: str | None = None, *, key: str = "model") -> LoadedModel:
    """``weights_input`` (in the sidebar) then ``load_model``: the model ready to use, or the page stops with
    the reason, shown where it is called: call it outside ``with st.sidebar`` so that the reason stands in
    the main area, where the page would be (in the sidebar it sat below the fold of an empty page)."""
    digest, path = weights_input(name, key=key)
    return load_model(name, hierarchy, digest, path)


def _kept_weights(upload) -> tuple[str, str, str]:
    """An uploaded weights file as ``(name, digest, path)``: its content's digest and ``_weights_file``."""
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:16]
    return upload.name, digest, str(_weights_file(data, digest, upload.name))


def _weights_file(data: bytes, digest: str, name: str) -> Path:
    """Uploaded weights as a file in a folder named by content, under the upload's own name (which the
    messages about it then show), so core reads it (weights_only) like any other."""
    folder = Path(tempfile.gettempdir()) / "xadv-weights" / digest
    folder.mkdir(parents=True, exist_ok=True)
    own = Path(Path(name).name)  # no folders from the browser's name
    path = folder / (own.name if own.suffix in (".pt", ".pth") else f"{own.stem or 'weights'}.pt")
    if not path.is_file():
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


# ---------------------------------------------------------------- image


# Widgets whose values session state may not be given (uploads, download buttons): not kept.
_NOT_SETTABLE = re.compile(r"(_upload|_weights_(?!path_).*|_dl_.*|_png_.*|_table_(json|npz))$")


def keep_page_settings(prefixes: tuple[str, ...]) -> None:
    """Streamlit forgets a page's widget values while another page is shown; writing them back at the top
    of every run (its documented workaround) keeps each page's model, image and settings, and so its
    results, for when one comes back. An uploader's file cannot be written back (``kept_uploads``
    keeps it instead)."""
    for key in list(st.session_state):
        if isinstance(key, str) and key.startswith(prefixes) and not _NOT_SETTABLE.search(key):
            st.session_state[key] = st.session_state[key]


def pick_image(info: ModelInfo, *, key: str = "image", default: str = DEFAULT_GALLERY,
               errors=None) -> LoadedImage | None:
    """A gallery photo (``default`` preselected), an upload, or for MNIST models a bundled test digit (first),
    loaded for ``info``'s input; None if unusable, with the reason shown in ``errors`` (a placeholder in
    the main area, where the page would be; in the sidebar it sat below the fold) or else here."""
    digits = takes_digits(info.input)  # then the bundled test digits come first
    sources = ["MNIST digit", "Gallery", "Upload"] if digits else ["Gallery", "Upload"]
    source = st.radio("Image", sources, horizontal=True, key=f"{key}_source{'_digits' if digits else ''}")
    try:
        if source == "MNIST digit":
            count = split_size("test")
            index = st.number_input(f"Test image number (0–{count - 1})", 0, count - 1, 0, key=f"{key}_digit",
                                    help="An image of the bundled MNIST test split (which the model never trained "
                                         "on), by its position in the split; the caption below names it.")
            image = _digit(int(index))
            st.caption(f"MNIST test image {int(index)}: a handwritten {digit_label(int(index))}, 28×28 grayscale, "
                       "used as it is.")
            return image
        if source == "Gallery":
            names = gallery_names()
            name = st.selectbox("Example photo", names, index=names.index(default),
                                format_func=gallery_description, key=f"{key}_gallery")
            image = _gallery(name, **info.input.loading())
        else:
            upload = kept_uploads(f"{key}_upload", "Upload an image")
            if not upload:
                st.info("Choose an image file (PNG, JPEG, GIF, BMP, TIFF or WebP).")
                return None
            [(name, data)] = upload
            image = _upload(data, name, **info.input.loading())
    except ValueError as exc:
        (errors or st).error(str(exc))
        return None
    st.caption(image_policy(image, info))
    return image


def holds_upload(widget: str) -> bool:
    """Whether the uploader ``widget`` itself held files on this run (not only ``kept_uploads``' copy)."""
    return bool(st.session_state.get(f"{widget}_held"))


def _name_and_bytes(upload) -> tuple[str, bytes]:
    return upload.name, upload.getvalue()


def kept_uploads(widget: str, label: str, *, multiple: bool = False, types: Sequence[str] = IMAGE_TYPES,
                 max_mb: int = IMAGE_MAX_MB, keep: Callable[[Any], tuple] = _name_and_bytes) -> list[tuple]:
    """The files of the uploader ``widget`` (one at most unless ``multiple``), each as ``keep(file)``, a
    tuple whose first item is the file's name (default ``(name, bytes)``), kept in session state:
    Streamlit empties an uploader that was not drawn on the last run (after a page change, or a switch
    to another source), so the files would be lost. ``keep`` runs once per upload, not on every rerun.
    Files the user removes (the uploader's x) are forgotten; a new upload replaces them."""
    kept, held = f"{widget}_kept", f"{widget}_held"  # kept: (the uploads' file ids, what keep made of them)
    drawn_last_run = widget in st.session_state  # checked before the widget is drawn again
    upload = st.file_uploader(label, type=list(types), key=widget, accept_multiple_files=multiple,
                              max_upload_size=max_mb)
    files = list(upload or []) if multiple else [upload] if upload is not None else []
    if files:
        ids = [f.file_id for f in files]
        if st.session_state.get(kept, ((), []))[0] != ids:
            st.session_state[kept] = (ids, [keep(f) for f in files])
        st.session_state[held] = True
        return st.session_state[kept][1]
    if drawn_last_run and st.session_state.get(held):  # it held the files last run: the user removed them
        st.session_state.pop(kept, None)
    st.session_state[held] = False
    if kept not in st.session_state:
        return []
    items = st.session_state[kept][1]
    st.caption(f"Using {items[0][0] if len(items) == 1 else counted(len(items), 'file')}, uploaded earlier; "
               f"upload {'others' if multiple else 'another file'} to replace {'them' if multiple else 'it'}.")
    return items


def uploaded_images(files: list[tuple[str, bytes]], info: ModelInfo,
                    key: str) -> tuple[list[LoadedImage], list[str]]:
    """Each uploaded ``(name, bytes)`` loaded for ``info``'s input, and why each file left out was (not a
    usable image, or the same image as an earlier one). Loaded once per set of files and input size,
    kept under ``key`` in session state: a rerun does not decode a few hundred photos again (bytes
    objects keep their hash, so comparing the sets costs nothing)."""
    signature = (info.input,
                 [(name, len(data), hash(data)) for name, data in files])
    kept = st.session_state.get(key)
    if kept is not None and kept[0] == signature:
        return kept[1]
    images, skipped, seen = [], [], {}
    for name, data in files:
        try:
            image = _upload(data, name, **info.input.loading())
        except ValueError as exc:
            skipped.append(f"{name}: {exc}")
            continue
        if image.digest in seen:
            skipped.append(f"{name}: the same image as {seen[image.digest]}")
            continue
        seen[image.digest] = name
        images.append(image)
    st.session_state[key] = (signature, (images, skipped))
    return images, skipped


@st.cache_data(show_spinner=False, max_entries=32)
def _gallery(name: str, size: int, crop_fraction: float, channels: int) -> LoadedImage:
    return load_gallery(name, size=size, crop_fraction=crop_fraction, channels=channels)


@st.cache_data(show_spinner=False, max_entries=32)
def _digit(index: int) -> LoadedImage:
    return load_digit(index)


@st.cache_data(show_spinner=False, max_entries=8)
def _upload(data: bytes, filename: str, size: int, crop_fraction: float, channels: int) -> LoadedImage:
    image = load_image(data, size=size, crop_fraction=crop_fraction, channels=channels)
    return dataclasses.replace(image, source_name=filename)


UPSCALE_NOTE = 4  # image_policy says so when an image is enlarged this much or more
CROP_NOTE = 0.5  # ... and when the centre crop keeps less than this fraction of the longer side


def image_policy(image: LoadedImage, info: ModelInfo) -> str:
    """One line: the original size and mode, and how it was resized and cropped for the model."""
    w, h = image.original_size
    size, crop_fraction = info.input.size, info.input.crop_fraction
    if crop_fraction < 1:
        geometry = (f"shorter side resized to {round(size / crop_fraction)} px, "
                    f"centre {size}×{size} crop (crop fraction {crop_fraction:g})")
    else:
        geometry = f"shorter side resized to {size} px, centre {size}×{size} crop"
    colour = "grayscale" if info.input.channels == 1 else "RGB"
    policy = f"Original {w}×{h} px, mode {image.original_mode}; {geometry}, {colour}."
    upscale = size / crop_fraction / min(w, h)
    if upscale >= UPSCALE_NOTE:
        policy += f" :orange[Enlarged {upscale:.0f}×: its fine detail is interpolated, not photographed.]"
    kept = crop_fraction * min(w, h) / max(w, h)  # of the longer side, after the resize
    if kept < CROP_NOTE:
        side = "width" if w > h else "height"
        policy += f" :orange[The centre crop keeps {kept:.0%} of its {side}: the model does not see the rest.]"
    return policy


# ---------------------------------------------------------------- predictions


@st.cache_data(show_spinner=False, max_entries=64)
def _top_k(_loaded: LoadedModel, model_id: str, _image: LoadedImage, digest: str, k: int) -> list[Prediction]:
    model = classifier(_loaded)
    with model_lock(model):  # an attribution elsewhere may be changing the weights (canonizers)
        return top_k(model, _image.tensor.to(_loaded.device), _loaded.info.class_names, k)[0]


def predictions(loaded: LoadedModel, image: LoadedImage, k: int = 5) -> list[Prediction]:
    """The flat classifier's top-``k`` classes for ``image`` (memoised per model and image)."""
    return _top_k(loaded, loaded.info.model_id, image, image.digest, k)


@st.cache_data(show_spinner=False, max_entries=64)
def _decide(_loaded: LoadedModel, model_id: str, _image: LoadedImage, digest: str) -> dict[str, Any]:
    return decision(_loaded, _image.tensor)


def decision(loaded: LoadedModel, x: torch.Tensor) -> dict[str, Any]:
    """The C2F decision on one image ``x`` (1, C, H, W): coarse class, then the fine one within it."""
    with model_lock(loaded.model):
        d = loaded.model.decide(x.to(loaded.device))
    h = loaded.info.hierarchy
    r, j = int(d.coarse[0]), int(d.fine[0])
    return {
        "coarse": r, "coarse_name": h.coarse_names[r], "coarse_prob": float(d.coarse_prob[0]),
        "coarse_probs": [float(p) for p in d.coarse_probs[0].cpu()],
        "fine": j, "fine_name": h.fine_names[r][j], "fine_prob": float(d.fine_prob[0]),
        "fine_class": int(d.fine_class[0]),
    }


@st.cache_data(show_spinner=False)
def hierarchies_for(model_name: str) -> list[str]:
    """The shipped hierarchies that fit the model's classes."""
    return fitting_hierarchies(model_name)


def model_label(available: dict[str, dict]) -> Callable[[str], str]:
    """Model names for a selectbox, marked where the machine has no weights for them."""
    return lambda n: n if available[n]["offline"] else f"{n} (needs weights)"


def c2f_decision(loaded: LoadedModel, image: LoadedImage) -> dict[str, Any] | None:
    """The coarse-to-fine decision (names and probabilities) of a C2F model; None for a flat model."""
    if loaded.info.hierarchy is None:
        return None
    return _decide(loaded, loaded.info.model_id, image, image.digest)


# ---------------------------------------------------------------- explainer parameters

_IG_RULES = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")
_EPSILONS = (1e-9, 1e-6, 1e-3, 1e-2, 0.1, 0.25, 1.0)


def _select(label: str, options: Sequence, help: str | None = None):
    def widget(default, key):
        opts = list(options)
        return st.selectbox(label, opts, index=opts.index(default) if default in opts else 0, key=key, help=help)
    return widget


def _slider(label: str, lo: int, hi: int, default: int | None = None, help: str | None = None):
    def widget(core_default, key):
        value = default if default is not None else min(max(core_default, lo), hi)
        return st.slider(label, lo, hi, value, key=key, help=help)
    return widget


#: Widgets for the explainers' parameters (values from core); anything not listed gets one by type.
PARAM_WIDGETS: dict[str, dict[str, Callable[[Any, str], Any]]] = {
    "lrp": {
        "composite": _select("Composite", COMPOSITES,
                             "Rules per layer. epsilon_plus_flat: flat at the input, z+ in convolutions, epsilon in "
                             "dense layers. epsilon_gamma_box: ZBox, gamma, epsilon. zplus_zbox: the LRP poster's "
                             "z+ everywhere with z-beta (ZBox) at the input."),
        "signed_inputs": _select("z+ on signed inputs", SIGNED_INPUTS,
                                 "zplus_zbox only: how z+ treats hidden-layer inputs that can be negative "
                                 "(EfficientNet's linear bottlenecks). split (zennit): a+ w+ and a- w- count as "
                                 "positive contributions. as_written: the poster's formula a w+ taken literally; "
                                 "its denominators then come near zero (on EfficientNet-Lite0 the maps turn to "
                                 "noise)."),
        "init": _select("Output relevance", INITS,
                        "onehot: R = 1 at the target class. logit: R = the target logit, so the map sums to it."),
        "epsilon": lambda default, key: st.select_slider(
            "epsilon", _EPSILONS, value=default if default in _EPSILONS else _EPSILONS[1], key=key,
            format_func=lambda v: f"{v:g}", help="Stabiliser of the epsilon rule (epsilon_* composites)."),
        "gamma": lambda default, key: st.slider(
            "gamma", 0.0, 1.0, float(default), 0.05, key=key, help="Weight of positive contributions "
            "(epsilon_gamma_box only)."),
    },
    "saliency": {
        "abs": lambda default, key: st.checkbox(
            "Absolute gradient", bool(default), key=key,
            help="|df/dx| (Simonyan et al.); untick for the signed gradient."),
    },
    "integrated_gradients": {
        "baseline": _select("Baseline", BASELINES,
                            "The reference image x' the path starts from ('uniform': seeded noise)."),
        "n_steps": _slider("Steps", 8, 128, 32, "Points on the path from the baseline to the image; more is "
                           "more exact and slower."),
        "method": _select("Integration rule", _IG_RULES),
        "seed": lambda default, key: st.number_input(
            "Seed", 0, 2**31 - 1, int(default), key=key, help="For the 'uniform' baseline."),
    },
    "deeplift_shap": {
        "baselines": _select("Baselines", SHAP_BASELINES,
                             "Reference images averaged over: a black and a white image, or seeded uniform noise."),
        "n_baselines": _slider("Noise baselines", 1, 32, None, "How many noise images ('uniform' only)."),
        "seed": lambda default, key: st.number_input(
            "Seed", 0, 2**31 - 1, int(default), key=key, help="For the 'uniform' baselines."),
    },
}


def _by_type(name: str, default: Any, key: str) -> Any:
    if isinstance(default, bool):
        return st.checkbox(name, default, key=key)
    if isinstance(default, int):
        return int(st.number_input(name, value=default, step=1, key=key))
    if isinstance(default, float):
        return float(st.number_input(name, value=default, format="%g", key=key))
    if isinstance(default, str):
        return st.text_input(name, default, key=key)
    return default  # None and other defaults stay as core chooses them


def method_params(method: str, *, key: str) -> dict[str, Any]:
    """Widgets for every parameter of ``method`` (from ``method_defaults``); returns name -> value."""
    widgets = PARAM_WIDGETS.get(method, {})
    values = {}
    for name, default in method_defaults(method).items():
        widget = widgets.get(name)
        widget_key = f"{key}_{method}_{name}"
        values[name] = widget(default, widget_key) if widget else _by_type(name, default, widget_key)
    return values


def relevant_params(method: str, params: dict[str, Any]) -> list[str]:
    """The parameters that change ``method``'s result with these settings (for captions)."""
    if method == "lrp":
        names = ["composite", "init"]
        if params.get("composite") == "zplus_zbox":
            names.append("signed_inputs")
        if params.get("composite", "").startswith("epsilon"):
            names.append("epsilon")
        if params.get("composite") == "epsilon_gamma_box":
            names.append("gamma")
        return names
    if method == "integrated_gradients":
        return ["baseline", "n_steps", "method"] + (["seed"] if params.get("baseline") == "uniform" else [])
    if method == "deeplift_shap":
        return ["baselines"] + (["n_baselines", "seed"] if params.get("baselines") == "uniform" else [])
    return [n for n, v in params.items() if v is not None]


# ---------------------------------------------------------------- figures

_MARGIN = dict(l=4, r=4, t=30, b=44)  # the bottom strip holds a heatmap's colour bar (kept on images too)
_TITLE_LINE = 18  # px per further title line


def _frame(fig: go.Figure, title: str, height: int, title_lines: int = 1) -> go.Figure:
    """Title on top (room for ``title_lines`` lines, so figures side by side line up), no axes."""
    fig.update_layout(title=dict(text=title, x=0.5, xanchor="center", yref="paper", y=1, yanchor="bottom",
                                 pad=dict(b=6), font=dict(size=14)),  # lines stack upwards from the picture
                      margin=dict(_MARGIN, t=_MARGIN["t"] + _TITLE_LINE * (title_lines - 1)), height=height)
    fig.update_xaxes(visible=False, showticklabels=False, constrain="domain")
    fig.update_yaxes(visible=False, showticklabels=False, scaleanchor="x", scaleratio=1,
                     autorange="reversed", constrain="domain")
    return fig


def _compact(value: float) -> str:
    """Two significant digits with a short exponent: 4.4e-5, not 4.4e-05 (colour bar ends are narrow)."""
    mantissa, e, exponent = f"{value:.2g}".partition("e")
    return f"{mantissa}e{int(exponent)}" if e else mantissa


def heatmap_figure(map2d: np.ndarray, scale: float, title: str, height: int = 320, title_lines: int = 1) -> go.Figure:
    """A relevance map on the diverging scale [-scale, scale] centred at zero, image orientation."""
    fig = go.Figure(go.Heatmap(
        z=np.asarray(map2d, dtype=np.float32), colorscale=PLOTLY_SCALE, zmid=0, zmin=-scale, zmax=scale,
        colorbar=dict(orientation="h", x=0.5, xanchor="center", y=-0.02, yanchor="top", thickness=8,
                      len=0.7,  # leaves room for the end labels in a narrow column
                      tickvals=[-scale, 0, scale], ticktext=[f"−{_compact(scale)}", "0", f"+{_compact(scale)}"],
                      tickfont=dict(size=10), outlinewidth=0),
        hovertemplate="x %{x}, y %{y}<br>relevance %{z:.3g}<extra></extra>",
    ))
    return _frame(fig, title, height, title_lines)


def image_figure(rgb: np.ndarray, title: str, height: int = 320, beside_heatmaps: bool = True,
                 title_lines: int = 1) -> go.Figure:
    """A uint8 image (H, W, 3) or grayscale (H, W) / (H, W, 1), same layout as ``heatmap_figure``
    (``beside_heatmaps`` keeps the strip for their colour bar free, so the pictures line up)."""
    rgb = np.asarray(rgb)
    if rgb.ndim == 2:
        rgb = rgb[:, :, None]
    if rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    fig = go.Figure(go.Image(z=rgb, hovertemplate="x %{x}, y %{y}<br>rgb %{z}<extra></extra>"))
    fig = _frame(fig, title, height, title_lines)
    if not beside_heatmaps:
        fig.update_layout(margin=dict(b=4))
    return fig


def probability_figure(names: Sequence[str], probabilities: Sequence[float], title: str | None = None,
                       highlight: int | None = 0, height: int | None = None) -> go.Figure:
    """Horizontal bars of class probabilities, first row on top; ``highlight`` marks one bar."""
    colours = ["#b2182b" if i == highlight else "#8c96a8" for i in range(len(names))]
    fig = go.Figure(go.Bar(
        x=list(probabilities), y=list(names), orientation="h", marker_color=colours,
        text=[f"{p:.1%}" for p in probabilities], textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:.2%}<extra></extra>",
    ))
    top = min(1.0, max(list(probabilities) + [0.01]) * 1.25)  # room for the labels, never past 100 % (then a margin)
    fig.update_layout(
        title=dict(text=title, font=dict(size=14)) if title else None,
        height=height or 60 + 30 * len(names), margin=dict(l=4, r=40, t=32 if title else 4, b=4),  # r: "55.4%"
        xaxis=dict(range=[0, top], tickformat=".0%", title=None, nticks=4, tickangle=0),  # upright in narrow columns
        yaxis=dict(type="category", autorange="reversed", title=None),  # names like "3" stay labels
        showlegend=False, bargap=0.25,
    )
    return fig


FIGURE_CELL = 152  # px: Streamlit draws a Plotly chart at least 150 px wide, and a narrower column crops it


def row_cells(widths: Sequence[int | None]) -> list:
    """One row of cells, ``widths`` in px (None: the room left), that wraps onto further lines where the
    page is narrow; ``st.columns`` would squeeze charts below 150 px and crop their right side."""
    row = st.container(horizontal=True, gap="small")
    return [row.container(width="stretch" if w is None else w) for w in widths]


# Plotly's toolbar sits over a figure's title while the pointer is on it; in the narrow map panels its
# full set wrapped into two rows over the title. Box zoom, reset and PNG download stay.
_TOOLBAR_LEFT_OUT = ["select2d", "lasso2d", "pan2d", "zoomIn2d", "zoomOut2d", "autoScale2d"]


def show(fig: go.Figure, key: str | None = None) -> None:
    """``st.plotly_chart`` with the dashboard's settings (stretch to the column, small toolbar)."""
    st.plotly_chart(fig, width="stretch", key=key,
                    config={"displaylogo": False, "modeBarButtonsToRemove": _TOOLBAR_LEFT_OUT})


def shared_scale_checkbox(key: str) -> bool:
    """The "one colour scale for all maps" switch (default on)."""
    return st.checkbox(
        "One colour scale for all maps", value=True, key=key,
        help="On: every map uses the same symmetric scale, so equal colours mean equal relevance. Methods "
             "measure relevance in different units; untick to scale each map to its own values.")


SCALE_PERCENTILES = (90.0, 95.0, 99.0, 99.5, 99.9, 100.0)


def scale_percentile_slider(key: str, default: float = 99.5) -> float:
    """Where the colour scale ends: a percentile of |relevance| (100 = the largest value). Moving it
    while the page computes (an attack, say) does not cut that short, as a widget would: the slider
    sits in a fragment, whose reruns Streamlit queues behind a running script, and the fragment then
    reruns the page with the new value."""
    drawn = f"_drawn_{key}"
    st.session_state[drawn] = st.session_state.get(key, default)  # the value this run of the page draws with
    _percentile_fragment(key, default, drawn)
    return st.session_state[key]


@st.fragment
def _percentile_fragment(key: str, default: float, drawn: str) -> None:
    value = st.select_slider(
        "Colour scale ends at percentile of |relevance|", SCALE_PERCENTILES, value=default, key=key,
        format_func=lambda p: f"{p:g}",
        help="A few extreme pixels can make a map look blank at 100 (the maximum); lower percentiles "
             "saturate those pixels and show the rest. Only the display and the PNG change, not the data.")
    if value != st.session_state[drawn]:  # moved: a fragment rerun, after any running script has ended
        st.rerun(scope="app")


# ---------------------------------------------------------------- downloads, progress


def name_stem(name: str | None) -> str:
    """An image's name for download file names, without its extension ("rgba.png" -> "rgba")."""
    return Path(name).stem if name else "upload"


def download_buttons(files: dict[str, bytes], prefix: str, key: str) -> None:
    """One download button per file, named ``<prefix>_<name>``, without rerunning the page."""
    for name, data in files.items():
        suffix = Path(name).suffix
        st.download_button(
            suffix.lstrip(".").upper() or name, data, file_name=f"{prefix}_{name}",
            mime=MIME.get(suffix, "application/octet-stream"), key=f"{key}_{name}", on_click="ignore",
            help=f"Download {prefix}_{name}",
        )


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """One ZIP archive of ``files`` (name -> bytes), for a single download instead of many."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def progress_callback(bar) -> Callable[[float, str], None]:
    """Core's ``progress(fraction, message)`` drawn on an ``st.progress`` bar."""

    def progress(fraction: float, message: str = "") -> None:
        bar.progress(float(min(max(fraction, 0.0), 1.0)), text=message or None)

    return progress


@contextmanager
def unfinished_mark(key: str, what: str) -> Iterator[None]:
    """Keeps ``what`` (a run's description) in the session while the run works. Changing a setting, pressing
    Stop or opening another page ends the script inside the run, so the mark stays for ``report_unfinished``."""
    st.session_state[key] = what
    yield
    del st.session_state[key]


def report_unfinished(key: str) -> None:
    """Says, once, that the run marked under ``key`` was cut short (it would otherwise vanish without a word)."""
    what = st.session_state.pop(key, None)
    if what:
        st.warning(f"{what} did not finish: a setting was changed, Stop was pressed or another page was "
                   "opened while it ran. The attacks that had finished are cached; run it again to see the results.",
                   icon=":material/pause_circle:")


def params_summary(params: dict[str, Any], shown: Sequence[str] | None = None) -> str:
    """``name=value`` pairs, compact (floats in short form), ``None`` values left out."""
    parts = []
    for name, value in params.items():
        if value is None or (shown is not None and name not in shown):
            continue
        parts.append(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}")
    return ", ".join(parts)
