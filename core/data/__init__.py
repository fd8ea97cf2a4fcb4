"""Data loading: user images, bundled example photos, and the bundled MNIST subset."""
from core.data.gallery import (
    gallery_description,
    gallery_image,
    gallery_names,
    gallery_path,
    load_gallery,
)
from core.data.images import (
    MAX_PIXELS,
    ImageSource,
    LoadedImage,
    as_saved_8bit,
    load_folder,
    load_image,
    pixel_digest,
    to_uint8,
)
from core.data.mnist import (
    SPLIT_SEED,
    SPLITS,
    digit_label,
    load_digit,
    load_digits,
    mnist_split,
    split_size,
    takes_digits,
    unlike_digits,
)

__all__ = [
    "MAX_PIXELS",
    "SPLITS",
    "SPLIT_SEED",
    "ImageSource",
    "LoadedImage",
    "as_saved_8bit",
    "digit_label",
    "gallery_description",
    "gallery_image",
    "gallery_names",
    "gallery_path",
    "load_gallery",
    "load_digit",
    "load_digits",
    "load_folder",
    "load_image",
    "mnist_split",
    "pixel_digest",
    "split_size",
    "takes_digits",
    "unlike_digits",
    "to_uint8",
]
