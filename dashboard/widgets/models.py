"""The model a page works on: picked, loaded once per process (``st.cache_resource``), with its own weights
if the user gives a file; which models have weights here and which hierarchies fit them; and a model's
predictions and coarse-to-fine decision for an image (memoised per model and image)."""
from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from core.data import LoadedImage
from core.errors import WeightsUnavailableError
from core.explain.explanation import classifier
from core.models import LoadedModel, Prediction, availability, load, top_k
from core.models.inputs import ImageInput
from core.models.locks import model_lock
from core.models.registry import REGISTRY, file_digest, fitting_hierarchies
from core.studies.c2f_view import NamedDecision
from dashboard.widgets.state import holds_upload, kept_uploads

WEIGHT_TYPES = ["pt", "pth"]
WEIGHTS_MAX_MB = 1024  # torchvision's VGG-16 is 528 MB; .streamlit/config.toml's maxUploadSize must allow it


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


@st.cache_data(show_spinner=False, ttl=60)
def model_availability() -> dict[str, dict]:
    """``core.models.availability()`` by model name (re-checked every minute: files may appear)."""
    return {row["name"]: row for row in availability()}


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


@st.cache_data(show_spinner=False, max_entries=64)
def _top_k(_loaded: LoadedModel, model_id: str, _image: LoadedImage, digest: str, k: int) -> list[Prediction]:
    model = classifier(_loaded)
    with model_lock(model):  # an attribution elsewhere may be changing the weights (canonizers)
        return top_k(model, _image.tensor.to(_loaded.device), _loaded.info.class_names, k)[0]


def predictions(loaded: LoadedModel, image: LoadedImage, k: int = 5) -> list[Prediction]:
    """The flat classifier's top-``k`` classes for ``image`` (memoised per model and image)."""
    return _top_k(loaded, loaded.info.model_id, image, image.digest, k)


@st.cache_data(show_spinner=False, max_entries=64)
def _decide(_loaded: LoadedModel, model_id: str, _image: LoadedImage, digest: str) -> NamedDecision:
    return NamedDecision.of(_loaded.model, _image.tensor.to(_loaded.device))


def c2f_decision(loaded: LoadedModel, image: LoadedImage) -> NamedDecision | None:
    """The coarse-to-fine decision (names and probabilities) of a C2F model; None for a flat model."""
    if loaded.info.hierarchy is None:
        return None
    return _decide(loaded, loaded.info.model_id, image, image.digest)


@st.cache_data(show_spinner=False)
def image_models() -> list[str]:
    """The registered models that take images (the pages of attacks on images offer these, not the
    tabular ones)."""
    return [name for name, spec in REGISTRY.items() if isinstance(spec.input, ImageInput)]


def hierarchies_for(model_name: str) -> list[str]:
    """The shipped hierarchies that fit the model's classes."""
    return fitting_hierarchies(model_name)


def model_label(available: dict[str, dict]) -> Callable[[str], str]:
    """Model names for a selectbox, marked where the machine has no weights for them."""
    return lambda n: n if available[n]["offline"] else f"{n} (needs weights)"
