"""The tabular data sets of the S-CFE study, read offline from the packages that ship them, as binary tasks.

- ``housing``: Boston Housing from mlxtend (``boston_housing.csv``, 506 rows), 12 features (``chas``, the
  river dummy, dropped as in the S-CFE paper); class 1: the median home value MEDV is above the median
  over all 506 rows.
- ``wine``: scikit-learn's Wine (``wine_data.csv``, 178 rows, 13 features); class 1: cultivar ``class_0``,
  class 0: the two other cultivars (``class_1``, ``class_2``).
- ``cancer``: scikit-learn's Breast Cancer Wisconsin (``breast_cancer.csv``, 569 rows, 30 features);
  scikit-learn's labels, 0 malignant and 1 benign.

The CSV files are read with numpy from the packages' folders (no import of scikit-learn, so that the
model registry, which describes the tabular models, stays quick to import); ``tests/test_data_tabular.py``
checks them against ``sklearn.datasets.load_wine`` / ``load_breast_cancer`` and
``mlxtend.data.boston_housing_data``.

Split (fixed, as the S-CFE code splits): the rows are permuted by ``numpy.random.default_rng(SPLIT_SEED)``;
the last ``TEST_ROWS`` = 100 rows of the permutation are ``test`` (the paper's 100 test points), the others
``train``. Standardisation statistics (``mean``, ``std``, ddof 0) come from ``train``; a feature's range
(``low``, ``high``) is its minimum and maximum over all rows. Values are in the data's own units.
"""
from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.errors import InputError

SPLIT_SEED = 0
TEST_ROWS = 100
SPLITS = ("train", "test")

_HOUSING = (  # (name, unit) of the 13 columns of mlxtend's file before MEDV; chas is dropped
    ("crim", "per capita crime rate"), ("zn", "% of land zoned for lots > 25,000 sq ft"),
    ("indus", "% non-retail business acres"), ("chas", "river dummy"), ("nox", "NOx, parts per 10 million"),
    ("rm", "rooms per dwelling"), ("age", "% built before 1940"), ("dis", "weighted distance to job centres"),
    ("rad", "highway accessibility index"), ("tax", "$ per $10,000"), ("ptratio", "pupils per teacher"),
    ("b", "1000 (Bk - 0.63)^2"), ("lstat", "% lower status"),
)
_WINE = (
    ("alcohol", "% vol"), ("malic_acid", "g/l"), ("ash", "g/l"), ("alcalinity_of_ash", "g/l"),
    ("magnesium", "mg/l"), ("total_phenols", "g/l"), ("flavanoids", "g/l"), ("nonflavanoid_phenols", "g/l"),
    ("proanthocyanins", "g/l"), ("color_intensity", "absorbance"), ("hue", "ratio"),
    ("od280/od315_of_diluted_wines", "ratio"), ("proline", "mg/l"),
)
_CANCER_PARTS = (("radius", "px"), ("texture", "grey level"), ("perimeter", "px"), ("area", "px^2"),
                 ("smoothness", "ratio"), ("compactness", "ratio"), ("concavity", "ratio"),
                 ("concave points", "ratio"), ("symmetry", "ratio"), ("fractal dimension", "ratio"))
_CANCER = tuple((name, unit) for form in ("mean {}", "{} error", "worst {}") for part, unit in _CANCER_PARTS
                for name in (form.format(part),))


@dataclass(frozen=True)
class TabularDataset:
    """A binary task: rows ``x`` (N, D) in the data's units, labels ``y`` (N,) in {0, 1}, the fixed split."""

    name: str
    description: str
    feature_names: tuple[str, ...]
    units: tuple[str, ...]
    class_names: tuple[str, str]
    x: np.ndarray
    y: np.ndarray
    train_index: np.ndarray
    test_index: np.ndarray

    def split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Fresh (rows (n, D) float32, labels (n,) int64) of ``train`` or ``test``."""
        if split not in SPLITS:
            raise InputError(f"Unknown split {split!r}; choose one of: {', '.join(SPLITS)}.")
        index = self.train_index if split == "train" else self.test_index
        return torch.from_numpy(self.x[index].copy()), torch.from_numpy(self.y[index].copy())

    @property
    def mean(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self.x[self.train_index].mean(0))

    @property
    def std(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self.x[self.train_index].std(0))

    @property
    def low(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self.x.min(0))

    @property
    def high(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self.x.max(0))


def _package_file(package: str, *parts: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise InputError(f"The package {package} is not installed; `pip install -r requirements.txt` installs it.")
    return Path(spec.origin).parent.joinpath(*parts)


def _sklearn_csv(file: str) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled CSV: a header line (rows, features, class names), then features and a label."""
    table = np.loadtxt(_package_file("sklearn", "datasets", "data", file), delimiter=",", skiprows=1)
    return table[:, :-1].astype(np.float32), table[:, -1].astype(np.int64)


def _split(n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    return order[:-TEST_ROWS], order[-TEST_ROWS:]


def _read(name: str) -> tuple[str, tuple, tuple[str, str], np.ndarray, np.ndarray]:
    if name == "housing":
        table = np.loadtxt(_package_file("mlxtend", "data", "data", "boston_housing.csv"), delimiter=",")
        keep = [i for i, (feature, _) in enumerate(_HOUSING) if feature != "chas"]
        price = table[:, -1]
        return ("Boston Housing (mlxtend), 12 features without chas; class 1: price above the median "
                f"({np.median(price):g} k$)", tuple(_HOUSING[i] for i in keep),
                ("price at most the median", "price above the median"), table[:, keep].astype(np.float32),
                (price > np.median(price)).astype(np.int64))
    if name == "wine":
        x, y = _sklearn_csv("wine_data.csv")
        return ("Wine (scikit-learn), 13 features; class 1: cultivar class_0, class 0: class_1 and class_2",
                _WINE, ("cultivar class_1 or class_2", "cultivar class_0"), x, (y == 0).astype(np.int64))
    x, y = _sklearn_csv("breast_cancer.csv")
    return ("Breast Cancer Wisconsin (scikit-learn), 30 features; 0 malignant, 1 benign", _CANCER,
            ("malignant", "benign"), x, y)


DATASETS = ("housing", "wine", "cancer")


@functools.cache
def tabular_dataset(name: str) -> TabularDataset:
    """The data set ``name`` (one of ``DATASETS``), read once per process; its arrays are read-only."""
    if name not in DATASETS:
        raise InputError(f"Unknown tabular data set {name!r}; choose one of: {', '.join(DATASETS)}.")
    description, features, classes, x, y = _read(name)
    train, test = _split(len(x))
    for array in (x, y, train, test):
        array.flags.writeable = False
    return TabularDataset(name, description, tuple(f for f, _ in features), tuple(u for _, u in features), classes,
                          x, y, train, test)
