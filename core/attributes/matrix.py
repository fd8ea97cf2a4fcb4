"""Class-attribute matrices phi(y): one row per class, one column per attribute.

``ClassAttributes`` holds the continuous matrix (C, K), its binary version and the attributes' names. For
the digits, ``from_measurements`` builds it as the paper's datasets have it: per-image values standardised
with the training split's mean and standard deviation (``Standardiser``), phi(y) = the mean of class y's
standardised values (continuous), and the binary matrix a median split of each column over the classes
(1 where a class's mean is above the median of the class means; our choice of threshold, a parameter).
Matrices travel as CSV files, a header ``class,<attribute>,...`` and one row per class
(``to_csv``/``read_csv``), checked on reading: every class once, every value a finite number, as many
values as attributes.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from core.errors import InputError

ASSET_ATTRIBUTES = Path(__file__).resolve().parents[2] / "assets" / "attributes"


@dataclass(frozen=True)
class Standardiser:
    """``z = (v - mean) / std`` per attribute (std of 0 taken as 1: a constant column stays 0)."""

    mean: torch.Tensor  # (K,)
    std: torch.Tensor  # (K,)

    @classmethod
    def fit(cls, values: torch.Tensor) -> Standardiser:
        std = values.std(0)
        return cls(values.mean(0), torch.where(std > 0, std, torch.ones_like(std)))

    def __call__(self, values: torch.Tensor) -> torch.Tensor:
        return (values - self.mean.to(values)) / self.std.to(values)

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}


@dataclass(frozen=True)
class ClassAttributes:
    """phi: ``continuous`` (C, K) float, ``binary`` (C, K) in {0, 1}, ``classes`` and ``names`` in that order."""

    classes: tuple[str, ...]
    names: tuple[str, ...]
    continuous: torch.Tensor
    binary: torch.Tensor

    def __post_init__(self):
        c, k = len(self.classes), len(self.names)
        for what, m in (("continuous", self.continuous), ("binary", self.binary)):
            if tuple(m.shape) != (c, k):
                raise InputError(f"The {what} class-attribute matrix is {tuple(m.shape)}; need {c} classes x {k} "
                                 "attributes.")
            if not bool(torch.isfinite(m).all()):
                raise InputError(f"The {what} class-attribute matrix holds NaN or infinite values.")

    def matrix(self, kind: str = "continuous") -> torch.Tensor:
        if kind not in ("continuous", "binary"):
            raise InputError(f"Unknown matrix kind {kind!r}; choose continuous or binary.")
        return self.continuous if kind == "continuous" else self.binary

    @classmethod
    def from_continuous(cls, classes, names, continuous: torch.Tensor) -> ClassAttributes:
        """The binary matrix by ``median_split``."""
        continuous = continuous.float()
        return cls(tuple(classes), tuple(names), continuous, median_split(continuous))


def class_means(values: torch.Tensor, labels: torch.Tensor, classes: int) -> torch.Tensor:
    """(C, K): the mean of each class's rows of ``values`` (N, K); a class without images is refused."""
    counts = torch.bincount(labels, minlength=classes)
    if bool((counts == 0).any()):
        missing = (counts == 0).nonzero().flatten().tolist()
        raise InputError(f"Class(es) {missing} have no image: their attributes cannot be averaged.")
    sums = torch.zeros(classes, values.shape[1], dtype=values.dtype).index_add_(0, labels, values)
    return sums / counts[:, None].to(values)


def median_split(continuous: torch.Tensor) -> torch.Tensor:
    """(C, K) in {0, 1}: 1 where a class's value is above the median of its column over the classes."""
    return (continuous > continuous.median(0).values).float()


def from_measurements(values: torch.Tensor, labels: torch.Tensor, classes, names) -> tuple[ClassAttributes,
                                                                                          Standardiser]:
    """phi from per-image measured ``values`` (N, K) of the training split and their ``labels`` (N,)."""
    standardise = Standardiser.fit(values)
    phi = class_means(standardise(values), labels, len(classes))
    return ClassAttributes.from_continuous(classes, names, phi), standardise


def to_csv(classes, names, matrix: torch.Tensor, digits: int = 6) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["class", *names])
    for name, row in zip(classes, matrix.tolist()):
        writer.writerow([name, *(f"{v:.{digits}g}" for v in row)])
    return out.getvalue()


def read_csv(text: str, source: str = "the CSV file", classes=None) -> tuple[tuple[str, ...], tuple[str, ...],
                                                                         torch.Tensor]:
    """(classes, attribute names, matrix (C, K)) from ``class,<attr>,...`` rows; with ``classes``, the rows are
    put in that order and each of them must be there."""
    rows = [r for r in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in r)]
    if len(rows) < 2 or len(rows[0]) < 2:
        raise InputError(f"{source} needs a header 'class,<attribute>,...' and one row per class.")
    names = tuple(cell.strip() for cell in rows[0][1:])
    found: dict[str, list[float]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(names) + 1:
            raise InputError(f"{source}, line {line}: {len(row) - 1} values where the header names "
                             f"{len(names)} attributes.")
        name = row[0].strip()
        if name in found:
            raise InputError(f"{source}, line {line}: class {name!r} appears twice.")
        found[name] = [parse_number(cell, source, line) for cell in row[1:]]
    order = tuple(found) if classes is None else tuple(classes)
    missing = [c for c in order if c not in found]
    if missing:
        raise InputError(f"{source} has no row for class(es) {', '.join(map(repr, missing[:10]))}.")
    return order, names, torch.tensor([found[c] for c in order], dtype=torch.float32)


def parse_number(cell: str, source: str, line: int) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise InputError(f"{source}, line {line}: {cell.strip()!r} is not a number.") from None
    if not math.isfinite(value):
        raise InputError(f"{source}, line {line}: {cell.strip()!r} is not a finite number (NaN or infinite).")
    return value


def load_digit_attributes(folder: Path = ASSET_ATTRIBUTES) -> tuple[ClassAttributes, Standardiser]:
    """The shipped digit matrices (``assets/attributes``, made by ``make_digit_attributes.py``) and the
    standardisation of the measured values."""
    try:
        classes, names, continuous = read_csv((folder / "mnist_continuous.csv").read_text(), "mnist_continuous.csv")
        _, _, binary = read_csv((folder / "mnist_binary.csv").read_text(), "mnist_binary.csv", classes)
        stats = json.loads((folder / "mnist_standardisation.json").read_text())
    except FileNotFoundError as exc:
        raise InputError(f"The digit attribute matrices are missing ({exc.filename}); make them with "
                         "`python assets/attributes/make_digit_attributes.py`.") from None
    return (ClassAttributes(classes, names, continuous, binary),
            Standardiser(torch.tensor(stats["mean"]), torch.tensor(stats["std"])))
