"""The S-CFE study's tabular data: read as the packages' own loaders read it, binary as stated, split
fixed and disjoint, and its models trained by the one trainer and shipped with their cards."""
import json

import numpy as np
import pytest
import torch

from core.data.tabular import DATASETS, TEST_ROWS, tabular_dataset
from core.errors import InputError
from core.models import load
from core.models.registry import ASSET_MODELS, TABULAR_MODELS


def test_rows_equal_the_packages_loaders():
    from mlxtend.data import boston_housing_data
    from sklearn.datasets import load_breast_cancer, load_wine

    x, price = boston_housing_data()
    housing = tabular_dataset("housing")
    assert "chas" not in housing.feature_names and len(housing.feature_names) == 12
    np.testing.assert_allclose(housing.x, np.delete(x, 3, axis=1), rtol=1e-6)  # chas is column 3
    np.testing.assert_array_equal(housing.y, price > np.median(price))
    wine = load_wine()
    np.testing.assert_allclose(tabular_dataset("wine").x, wine.data, rtol=1e-6)
    np.testing.assert_array_equal(tabular_dataset("wine").y, wine.target == 0)
    assert tabular_dataset("wine").feature_names == tuple(wine.feature_names)
    cancer = load_breast_cancer()
    np.testing.assert_allclose(tabular_dataset("cancer").x, cancer.data, rtol=1e-6)
    np.testing.assert_array_equal(tabular_dataset("cancer").y, cancer.target)
    assert tabular_dataset("cancer").feature_names == tuple(cancer.feature_names)


@pytest.mark.parametrize("name", DATASETS)
def test_split_fixed_disjoint_and_statistics_from_train(name):
    data = tabular_dataset(name)
    assert len(data.test_index) == TEST_ROWS
    assert sorted(np.concatenate([data.train_index, data.test_index]).tolist()) == list(range(len(data.x)))
    x, y = data.split("train")
    np.testing.assert_allclose(data.mean, x.numpy().mean(0), rtol=1e-5)
    assert len(data.units) == len(data.feature_names) and set(np.unique(data.y)) == {0, 1}
    x[0, 0] = -1e9  # a fresh copy: the data set is untouched
    assert data.split("train")[0][0, 0] != -1e9
    with pytest.raises(InputError, match="train, test"):
        data.split("validation")


@pytest.mark.parametrize("name", list(TABULAR_MODELS))
def test_shipped_models_take_rows_in_their_units_and_match_their_cards(name):
    loaded = load(name, device="cpu")
    card = json.loads((ASSET_MODELS / f"{name}.json").read_text())
    x, y = tabular_dataset(TABULAR_MODELS[name]).split("test")
    loaded.info.input.check(x)
    with torch.no_grad():
        correct = int((loaded.model(x).argmax(1) == y).sum())
    assert correct == card["test_correct"] and card["test_accuracy"] >= 0.8
    assert loaded.info.input.feature_names == tabular_dataset(TABULAR_MODELS[name]).feature_names


def test_training_is_reproducible(tmp_path):
    from core.models.tabular_training import train_tabular

    for out in ("a", "b"):
        train_tabular("wine_mlp", epochs=3, seed=1, out_dir=tmp_path / out, progress=lambda f, m: None)
    a, b = (torch.load(tmp_path / out / "wine_mlp.pt", weights_only=True) for out in ("a", "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)
