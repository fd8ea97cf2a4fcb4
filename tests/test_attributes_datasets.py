"""The user's own attribute data on small synthetic fixtures in the ImageFolder + CSV, AwA2 and CUB layouts,
and clear messages for bad files."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.attributes import datasets
from core.errors import InputError

CLASSES = ("a_red", "b_green", "c_blue")  # sorted, as ImageFolder orders its classes
PHI = np.array([[1.0, 0.0, 0.2, 5.0], [0.0, 1.0, 0.3, 6.0], [0.0, 0.0, 0.9, 7.0]])
ATTRIBUTES = ("reddish", "greenish", "bluish", "size")


def write_images(folder: Path, per_class: int = 5, size: int = 16) -> None:
    """Images of each class: its colour channel bright, noise elsewhere (seeded)."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(CLASSES):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 90, (size, size, 3), dtype=np.uint8)
            pixels[..., c] = rng.integers(170, 256, (size, size), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{i:02d}.png")


def image_folder_fixture(root: Path) -> tuple[Path, Path]:
    write_images(root / "images")
    rows = ["class," + ",".join(ATTRIBUTES)] + [f"{c}," + ",".join(map(str, r)) for c, r in zip(CLASSES, PHI)]
    (root / "classes.csv").write_text("\n".join(rows) + "\n")
    return root / "images", root / "classes.csv"


def awa2_fixture(root: Path) -> Path:
    write_images(root / "JPEGImages")
    (root / "classes.txt").write_text("".join(f"{i + 1}\t{c}\n" for i, c in enumerate(CLASSES)))
    (root / "predicates.txt").write_text("".join(f"{i + 1}\t{a}\n" for i, a in enumerate(ATTRIBUTES)))
    (root / "predicate-matrix-continuous.txt").write_text("\n".join(" ".join(map(str, r)) for r in PHI) + "\n")
    (root / "predicate-matrix-binary.txt").write_text("\n".join(" ".join(str(int(v > 0.5)) for v in r)
                                                                for r in PHI) + "\n")
    return root


def cub_fixture(root: Path) -> Path:
    write_images(root / "images")
    (root / "classes.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(CLASSES)))
    (root / "attributes").mkdir()
    (root / "attributes.txt").write_text("".join(f"{i + 1} has_{a}::yes\n" for i, a in enumerate(ATTRIBUTES)))
    (root / "attributes" / "class_attribute_labels_continuous.txt").write_text(
        "\n".join(" ".join(str(100 * v) for v in r) for r in PHI) + "\n")
    return root


def check(data: datasets.AttributeDataset, layout: str):
    assert data.layout == layout and data.attributes.classes == CLASSES
    assert data.images.shape == (15, 3, 8, 8) and data.labels.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    assert data.images[data.labels == 0][:, 0].mean() > data.images[data.labels == 0][:, 1].mean()  # red is red
    assert data.attributes.continuous.shape == (3, 4)
    train, test = data.split(0.2)
    assert len(test) == 3 and set(data.labels[test].tolist()) == {0, 1, 2} and not set(train) & set(test)


def test_image_folder_and_csv(tmp_path):
    images, csv_file = image_folder_fixture(tmp_path)
    data = datasets.image_folder(images, csv_file, size=8, crop_fraction=1.0)
    check(data, "imagefolder")
    assert data.attributes.names == ATTRIBUTES and torch.allclose(data.attributes.continuous, torch.tensor(PHI).float())


def test_awa2_layout_uses_its_binary_matrix(tmp_path):
    data = datasets.awa2(awa2_fixture(tmp_path), size=8, crop_fraction=1.0)
    check(data, "awa2")
    assert data.attributes.binary[:, 3].tolist() == [1, 1, 1]  # the file's, not a median split (which gives 0s)


def test_cub_layout_names_its_attributes(tmp_path):
    data = datasets.cub(cub_fixture(tmp_path), size=8, crop_fraction=1.0, per_class=5)
    check(data, "cub")
    assert data.attributes.names[0] == "has_reddish::yes"
    assert torch.allclose(data.attributes.continuous, 100 * torch.tensor(PHI).float())


def test_bad_datasets_get_clear_messages(tmp_path):
    images, csv_file = image_folder_fixture(tmp_path / "a")
    csv_file.write_text("class,a,b\na_red,1,2\nb_green,1,2\n")
    with pytest.raises(InputError, match="no row for class.*c_blue"):
        datasets.image_folder(images, csv_file, size=8)
    csv_file.write_text("class,a,b\na_red,1,2\nb_green,1,nan\nc_blue,0,0\n")
    with pytest.raises(InputError, match="finite"):
        datasets.image_folder(images, csv_file, size=8)
    csv_file.write_text("class,a,b\na_red,1,2\nb_green,1\nc_blue,0,0\n")
    with pytest.raises(InputError, match="header names 2"):
        datasets.image_folder(images, csv_file, size=8)
    root = awa2_fixture(tmp_path / "b")
    (root / "predicate-matrix-binary.txt").unlink()
    (root / "predicate-matrix-continuous.txt").write_text("1 0 0 1\n0 1 0 1\n")
    with pytest.raises(InputError, match="2 rows; the classes file names 3"):
        datasets.awa2(root, size=8)
    with pytest.raises(InputError, match="layout"):
        datasets.load_dataset("voc", root)
    with pytest.raises(InputError, match="not a folder"):
        datasets.image_folder(tmp_path / "nowhere", csv_file)
