"""The user's own attribute data: images in one folder per class, and the class attributes phi.

Three layouts, each read into an ``AttributeDataset``:

- ``image_folder(root, csv)``: ``root/<class>/<image>`` (torchvision's ImageFolder) and a CSV file
  ``class,<attribute>,...`` with one row per class folder (``matrix.read_csv``; extra CSV rows are ignored).
- ``awa2(root)``: Animals with Attributes 2 as shipped: ``classes.txt`` and ``predicates.txt`` ("<index>
  <name>" per line), ``predicate-matrix-continuous.txt`` (or ``-binary.txt``, one row per class, one column
  per predicate) and the images in ``JPEGImages/<class>/``.
- ``cub(root)``: CUB-200-2011 as shipped: ``classes.txt`` ("<index> <name>"),
  ``attributes/class_attribute_labels_continuous.txt`` (one row per class, 312 percentages), the attribute
  names in ``attributes.txt`` or ``attributes/attributes.txt`` where present, the images in
  ``images/<class>/``.

The binary matrix is the file's where the layout ships one (AwA2's ``-binary``), else the median split of
the continuous one. Images are loaded by ``core.data.load_image`` (size, crop, channels of the model that
will read them), at most ``per_class`` per class, in file-name order; unreadable files are left out and named.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from core.attributes.matrix import ClassAttributes, median_split, parse_number, read_csv
from core.data.images import load_folder
from core.errors import InputError
from core.validate import check_count, check_number


@dataclass(frozen=True)
class AttributeDataset:
    """Images (N, C, S, S) in [0, 1], their class indices (N,), phi over the classes, and where they came from."""

    name: str
    layout: str
    images: torch.Tensor
    labels: torch.Tensor
    attributes: ClassAttributes
    skipped: tuple[str, ...] = ()

    def split(self, test_fraction: float = 0.2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """(train, test) indices: per class, a seeded shuffle, the last ``test_fraction`` (at least one image
        where a class has two or more) to test."""
        check_number("The test fraction", test_fraction, "in (0, 1)", lambda f: 0 < f < 1)
        g = torch.Generator().manual_seed(seed)
        train, test = [], []
        for c in range(len(self.attributes.classes)):
            members = (self.labels == c).nonzero().flatten()
            members = members[torch.randperm(len(members), generator=g)]
            held = min(max(1, round(test_fraction * len(members))), len(members) - 1) if len(members) > 1 else 0
            train.append(members[:len(members) - held])
            test.append(members[len(members) - held:])
        return torch.cat(train).sort().values, torch.cat(test).sort().values

    def to_dict(self) -> dict:
        return {"name": self.name, "layout": self.layout, "images": len(self.labels),
                "classes": len(self.attributes.classes), "attributes": len(self.attributes.names),
                "skipped": list(self.skipped)}


def _class_images(folders: list[Path], per_class: int | None, loading: dict) -> tuple[torch.Tensor, torch.Tensor,
                                                                                       tuple[str, ...]]:
    images, labels, skipped = [], [], []
    for c, folder in enumerate(folders):
        if not folder.is_dir():
            raise InputError(f"Class {folder.name!r} has no image folder ({folder}).")
        loaded, left_out = load_folder(folder, **loading)
        loaded = loaded[:per_class] if per_class is not None else loaded
        images += [image.tensor for image in loaded]
        labels += [c] * len(loaded)
        skipped += [f"{folder.name}/{reason}" for reason in left_out]
    return torch.cat(images), torch.tensor(labels), tuple(skipped)


def _loading(size: int, channels: int, crop_fraction: float, per_class: int | None) -> dict:
    if per_class is not None:
        check_count("Images per class", per_class, 1)
    return {"size": size, "channels": channels, "crop_fraction": crop_fraction}


def image_folder(root: str | Path, csv_file: str | Path, *, size: int = 224, channels: int = 3,
                 crop_fraction: float = 0.875, per_class: int | None = None) -> AttributeDataset:
    """An ImageFolder tree ``root/<class>/`` and a class-attribute CSV (see the module docstring)."""
    root, csv_file = Path(root).expanduser(), Path(csv_file).expanduser()
    if not root.is_dir():
        raise InputError(f"{root} is not a folder on this machine.")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise InputError(f"{root} has no class folders (one folder of images per class).")
    if not csv_file.is_file():
        raise InputError(f"{csv_file} is not a file on this machine.")
    order, names, matrix = read_csv(csv_file.read_text(), csv_file.name, classes)
    images, labels, skipped = _class_images([root / c for c in classes], per_class,
                                            _loading(size, channels, crop_fraction, per_class))
    return AttributeDataset(root.name, "imagefolder", images, labels,
                            ClassAttributes.from_continuous(order, names, matrix), skipped)


def _indexed_names(path: Path) -> tuple[str, ...]:
    """The names of an "<index> <name>" file, in its order (index 1, 2, ...)."""
    if not path.is_file():
        raise InputError(f"Missing {path.name} in {path.parent} (lines '<index> <name>').")
    names = []
    for line, text in enumerate(path.read_text().splitlines(), start=1):
        if not text.strip():
            continue
        parts = text.split(maxsplit=1)
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) != len(names) + 1:
            raise InputError(f"{path.name}, line {line}: expected '{len(names) + 1} <name>', got {text.strip()!r}.")
        names.append(parts[1].strip())
    return tuple(names)


def _number_matrix(path: Path, rows: int, columns: int | None) -> torch.Tensor:
    """A whitespace-separated matrix file of ``rows`` rows (and ``columns`` columns where given)."""
    if not path.is_file():
        raise InputError(f"Missing {path.name} in {path.parent}.")
    lines = [t for t in path.read_text().splitlines() if t.strip()]
    if len(lines) != rows:
        raise InputError(f"{path.name} has {len(lines)} rows; the classes file names {rows} classes.")
    values = [[parse_number(cell, path.name, i) for cell in text.split()] for i, text in enumerate(lines, start=1)]
    width = columns if columns is not None else len(values[0])
    for i, row in enumerate(values, start=1):
        if len(row) != width:
            raise InputError(f"{path.name}, line {i}: {len(row)} values where {width} attributes are named.")
    return torch.tensor(values, dtype=torch.float32)


def awa2(root: str | Path, *, size: int = 224, channels: int = 3, crop_fraction: float = 0.875,
         per_class: int | None = None) -> AttributeDataset:
    """Animals with Attributes 2 in its shipped layout (see the module docstring)."""
    root = Path(root).expanduser()
    classes, predicates = _indexed_names(root / "classes.txt"), _indexed_names(root / "predicates.txt")
    continuous_file = root / "predicate-matrix-continuous.txt"
    binary_file = root / "predicate-matrix-binary.txt"
    if not continuous_file.is_file() and not binary_file.is_file():
        raise InputError(f"{root} has neither predicate-matrix-continuous.txt nor predicate-matrix-binary.txt.")
    binary = _number_matrix(binary_file, len(classes), len(predicates)) if binary_file.is_file() else None
    continuous = _number_matrix(continuous_file, len(classes), len(predicates)) if continuous_file.is_file() \
        else binary
    phi = ClassAttributes(classes, predicates, continuous, binary if binary is not None else median_split(continuous))
    images, labels, skipped = _class_images([root / "JPEGImages" / c for c in classes], per_class,
                                            _loading(size, channels, crop_fraction, per_class))
    return AttributeDataset(root.name, "awa2", images, labels, phi, skipped)


def cub(root: str | Path, *, size: int = 224, channels: int = 3, crop_fraction: float = 0.875,
        per_class: int | None = None) -> AttributeDataset:
    """CUB-200-2011 in its shipped layout (see the module docstring)."""
    root = Path(root).expanduser()
    classes = _indexed_names(root / "classes.txt")
    names_file = next((p for p in (root / "attributes.txt", root / "attributes" / "attributes.txt") if p.is_file()),
                      None)
    names = _indexed_names(names_file) if names_file is not None else None
    continuous = _number_matrix(root / "attributes" / "class_attribute_labels_continuous.txt", len(classes),
                                None if names is None else len(names))
    names = names or tuple(f"attribute {i + 1}" for i in range(continuous.shape[1]))
    phi = ClassAttributes.from_continuous(classes, names, continuous)
    images, labels, skipped = _class_images([root / "images" / c for c in classes], per_class,
                                            _loading(size, channels, crop_fraction, per_class))
    return AttributeDataset(root.name, "cub", images, labels, phi, skipped)


LAYOUTS = ("imagefolder", "awa2", "cub")


def load_dataset(layout: str, root: str | Path, csv_file: str | Path | None = None, **loading) -> AttributeDataset:
    """One of ``LAYOUTS`` (``imagefolder`` needs ``csv_file``)."""
    if layout == "imagefolder":
        if csv_file is None:
            raise InputError("An ImageFolder dataset needs its class-attribute CSV file.")
        return image_folder(root, csv_file, **loading)
    if layout == "awa2":
        return awa2(root, **loading)
    if layout == "cub":
        return cub(root, **loading)
    raise InputError(f"Unknown dataset layout {layout!r}; choose one of {', '.join(LAYOUTS)}.")
