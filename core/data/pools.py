"""Image pools: the candidate attack images a study draws from (eXIAA's attack image comes from one).

A ``Pool`` names its images, loads one on demand (for a model's input: size, crop, channels) and carries a
digest of its content, what its images are made from (file bytes, bundled arrays) and how they are loaded,
so that predictions over it can be cached without decoding it again. Pools: the gallery photos, a folder
of image files (e.g. ``../shared/imagenet-sample/``, one photo for each of 500 ImageNet classes), images
already loaded (uploads), and the 5,000 bundled MNIST digits (500 per class, both splits).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.gallery import gallery_names, gallery_path, load_gallery
from core.data.images import LoadedImage, load_image
from core.data.mnist import SPLITS, load_digit, mnist_split, split_size
from core.errors import InputError
from core.wording import counted

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True, eq=False)
class Pool:
    """Candidate images: ``names``, what they are (``description``), a digest of their ``content`` and of how
    they are loaded, and ``loader(i)``, the i-th image loaded."""

    description: str
    names: tuple[str, ...]
    content: str
    loader: Callable[[int], LoadedImage]

    def __post_init__(self):
        if not self.names:
            raise InputError(f"The pool ({self.description}) holds no images: give at least one candidate image.")

    def __len__(self) -> int:
        return len(self.names)

    def load(self, index: int) -> LoadedImage:
        if not 0 <= index < len(self):
            raise InputError(f"The pool holds images 0..{len(self) - 1}, not {index}.")
        return self.loader(index)


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else json.dumps(part, sort_keys=True).encode())
    return h.hexdigest()


def images_pool(description: str, images: Sequence[LoadedImage]) -> Pool:
    """A pool of images already loaded (uploads), named by their source names; content: their pixel digests."""
    images = list(images)
    names = tuple(image.source_name or f"image {i}" for i, image in enumerate(images))
    return Pool(description, names, _digest("images", [image.digest for image in images]), images.__getitem__)


def folder_pool(folder: str | Path, **loading) -> Pool:
    """The image files of ``folder`` (by suffix, sorted by name, hidden files left out), each loaded with
    ``loading`` (``ImageInput.loading()``) when asked for; content: every file's name and bytes."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InputError(f"The pool folder {folder} does not exist or is not a folder.")
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"{folder} holds no image files ({', '.join(IMAGE_SUFFIXES)}).")
    content = _digest("folder", loading, *[[p.name, hashlib.sha256(p.read_bytes()).hexdigest()] for p in files])

    return Pool(f"{folder.name} ({counted(len(files), 'image')})", tuple(p.name for p in files), content,
                lambda i: load_image(files[i], **loading))


def gallery_pool(**loading) -> Pool:
    """The bundled gallery photos; content: their files' bytes and ``loading``."""
    names = tuple(gallery_names())
    content = _digest("gallery", loading, *[gallery_path(n).read_bytes() for n in names])
    return Pool(f"the gallery ({len(names)} photos)", names, content, lambda i: load_gallery(names[i], **loading))


def digit_pool() -> Pool:
    """The 5,000 bundled MNIST digits (500 per class): the training split, then the test split, named as
    ``load_digit`` names them; content: their pixels."""
    places = [(split, i) for split in SPLITS for i in range(split_size(split))]
    pixels = [np.ascontiguousarray(mnist_split(split)[0].numpy()).tobytes() for split in SPLITS]
    return Pool(f"the MNIST digits ({len(places)})", tuple(f"mnist_{s}_{i}" for s, i in places),
                _digest("mnist", *pixels), lambda i: load_digit(places[i][1], places[i][0]))
