"""The images a command runs on: a file, a gallery photo, a folder, or the bundled MNIST digits."""
from __future__ import annotations

import sys
from pathlib import Path

from core.errors import InputError

MNIST_SOURCE = "mnist:"  # --images mnist:N, the first N bundled MNIST test digits


def add_image_flags(parser, digits: int) -> None:
    """A study command's ``--model``, ``--weights`` and ``--images`` (by default the gallery, or the first
    ``digits`` MNIST test digits for a digit model)."""
    parser.add_argument("--model", default="efficientnet_lite0", help="a model of `python -m core models`")
    parser.add_argument("--weights", help="local state-dict file to use instead of the default weights")
    parser.add_argument("--images", help="folder of images, one image file, 'gallery' for the bundled photos, or "
                                         f"'{MNIST_SOURCE}N' for the first N bundled MNIST test digits (default: "
                                         f"gallery, or {MNIST_SOURCE}{digits} for a model of MNIST digits such as "
                                         "mnist_cnn)")


def open_image(spec: str, **loading):
    """An image file, or a gallery photo by name, loaded with ``loading`` (``ImageInput.loading()``)."""
    from core.data import gallery_names, load_gallery, load_image

    if Path(spec).is_file():
        return load_image(spec, **loading)
    if spec in gallery_names():
        return load_gallery(spec, **loading)
    raise InputError(f"{spec!r} is neither an image file nor a gallery name ({', '.join(gallery_names())}).")


def image_source(spec: str | None, info, default_digits: int) -> str:
    """``--images`` as given, else its default: the first ``default_digits`` MNIST digits for a model that
    takes them, the gallery for the others."""
    from core.data import takes_digits

    return spec or (f"{MNIST_SOURCE}{default_digits}" if takes_digits(info.input) else "gallery")


def open_images(spec: str, info) -> list:
    """All images of a folder (sorted by name), one image file, the gallery when ``spec`` is 'gallery', or
    the first N bundled MNIST test digits when it is 'mnist:N' (for a model that takes them), each loaded
    for the input of the model ``info`` (a ``ModelInfo``) describes. Unreadable files and repeats are
    named on stderr and left out."""
    from core.data import gallery_names, load_digits, load_folder, load_gallery, load_image, takes_digits

    loading = info.input.loading()
    if spec == "gallery":
        return [load_gallery(name, **loading) for name in gallery_names()]
    folder = Path(spec)
    if spec.startswith(MNIST_SOURCE) and not folder.exists():
        count = spec[len(MNIST_SOURCE):]
        if not count.isdigit():
            raise InputError(f"--images {spec}: give the number of MNIST test digits, e.g. {MNIST_SOURCE}20.")
        if not takes_digits(info.input):
            raise InputError(f"MNIST digits are 28x28 grayscale images; this model takes {info.input.describe()} "
                             "inputs.")
        return load_digits(int(count))
    if folder.is_file():
        return [load_image(folder, **loading)]
    if not folder.is_dir():
        raise InputError(f"{spec} is neither a folder of images, an image file, 'gallery', nor "
                         f"'{MNIST_SOURCE}N' (the first N MNIST test digits).")
    images, skipped = load_folder(folder, **loading)
    for why in skipped:
        print(f"skipped {why}", file=sys.stderr)
    return images


def open_pool(spec: str, info):
    """The pool of attack images ``spec`` names: a folder, 'gallery', or 'mnist' (the 5,000 bundled digits,
    for a model that takes them), loaded for the input of the model ``info`` describes."""
    from core.data import takes_digits
    from core.data.pools import digit_pool, folder_pool, gallery_pool

    if spec == "gallery":
        return gallery_pool(**info.input.loading())
    if spec == "mnist" and not Path(spec).exists():
        if not takes_digits(info.input):
            raise InputError(f"MNIST digits are 28x28 grayscale images; this model takes {info.input.describe()} "
                             "inputs.")
        return digit_pool()
    if not Path(spec).is_dir():
        raise InputError(f"--pool {spec} is neither a folder of images, 'gallery', nor 'mnist'.")
    return folder_pool(spec, **info.input.loading())
