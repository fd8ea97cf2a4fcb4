"""Data loading: user images, bundled example photos, and the bundled MNIST subset."""
from core.data.gallery import (
    gallery_description,
    gallery_image,
    gallery_names,
    gallery_path,
    load_gallery,
)
from core.data.images import MAX_PIXELS, ImageSource, LoadedImage, load_image, pixel_digest, to_uint8
from core.data.mnist import SPLIT_SEED, SPLITS, mnist_split

__all__ = [
    "MAX_PIXELS",
    "SPLITS",
    "SPLIT_SEED",
    "ImageSource",
    "LoadedImage",
    "gallery_description",
    "gallery_image",
    "gallery_names",
    "gallery_path",
    "load_gallery",
    "load_image",
    "mnist_split",
    "pixel_digest",
    "to_uint8",
]
