"""Example photos bundled inside scikit-image (read from skimage/data/, never downloaded).

``motorcycle`` is the left view of ``skimage.data.stereo_motorcycle()``; ``camera`` is grayscale.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import skimage.data
from PIL import Image

from core.data.images import LoadedImage, load_image
from core.errors import InputError

_DATA_DIR = Path(skimage.data.__file__).parent

# name -> (file in skimage/data/, one-line description)
_GALLERY = {
    "chelsea": ("chelsea.png", "a tabby cat"),
    "coffee": ("coffee.png", "a cup of coffee on a saucer"),
    "rocket": ("rocket.jpg", "a Falcon 9 rocket on its launch pad"),
    "astronaut": ("astronaut.png", "portrait of astronaut Eileen Collins"),
    "motorcycle": ("motorcycle_left.png", "a motorcycle, left view of a stereo pair"),
    "camera": ("camera.png", "a cameraman with a tripod (grayscale)"),
}


def gallery_names() -> list[str]:
    """Names of the bundled example photos."""
    return list(_GALLERY)


def gallery_description(name: str) -> str:
    """One-line description, e.g. ``"chelsea: a tabby cat"``."""
    return f"{name}: {_GALLERY[_check_name(name)][1]}"


def gallery_path(name: str) -> Path:
    """Path of the photo's file inside the installed scikit-image package."""
    path = _DATA_DIR / _GALLERY[_check_name(name)][0]
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall scikit-image.")
    return path


def gallery_image(name: str) -> Image.Image:
    """The raw photo, fully decoded."""
    with Image.open(gallery_path(name)) as image:
        image.load()
        return image.copy()


def load_gallery(name: str, **load_image_kwargs) -> LoadedImage:
    """``load_image`` on a gallery photo, with ``source_name`` set to ``name``."""
    loaded = load_image(gallery_path(name), **load_image_kwargs)
    return dataclasses.replace(loaded, source_name=name)


def _check_name(name: str) -> str:
    if name not in _GALLERY:
        raise InputError(f"Unknown gallery image {name!r}; choose one of: {', '.join(_GALLERY)}.")
    return name
