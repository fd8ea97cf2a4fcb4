"""The image a page works on: a gallery photo, an upload or a bundled MNIST digit, loaded for the model's
input (``core.data``, decoded once per file and size); uploaded image sets; and the line saying how an
image was fitted to the model."""
from __future__ import annotations

import dataclasses

import streamlit as st

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
    unlike_digits,
)
from core.models import ModelInfo
from dashboard.widgets.state import kept_uploads

IMAGE_TYPES = ["png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp"]
IMAGE_MAX_MB = 25  # per uploaded image
DEFAULT_GALLERY = "chelsea"


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
            upload = image_uploads(f"{key}_upload", "Upload an image")
            if not upload:
                st.info("Choose an image file (PNG, JPEG, GIF, BMP, TIFF or WebP).")
                return None
            [(name, data)] = upload
            image = _upload(data, name, **info.input.loading())
    except ValueError as exc:
        (errors or st).error(str(exc))
        return None
    st.caption(image_policy(image, info))
    unlike = unlike_digits(image.tensor) if digits else None
    if unlike:
        st.warning(f"This image is far from the MNIST digits the model learnt: {unlike}.",
                   icon=":material/warning:")
    return image


def image_uploads(widget: str, label: str, *, multiple: bool = False) -> list[tuple[str, bytes]]:
    """``kept_uploads`` of image files: each as ``(name, bytes)``."""
    return kept_uploads(widget, label, types=IMAGE_TYPES, max_mb=IMAGE_MAX_MB, multiple=multiple)


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
