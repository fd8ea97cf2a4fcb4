"""The Counterfactuals page driven through Streamlit's AppTest: Housing with locked and one-sided features,
typed values refused naming the feature, MNIST's digit grid."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.data.tabular import tabular_dataset

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
RESULT = "counterfactuals_result"


def open_page() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=600)
    at.run()
    at.switch_page("counterfactuals/page.py")
    at.run()
    assert not at.exception, at.exception
    return at


def widget(at, kind: str, key: str):
    return next(w for w in getattr(at, kind) if w.key == key)


def find(at: AppTest) -> AppTest:
    [button] = [b for b in at.button if b.label == "Find counterfactuals"]
    button.click().run()
    assert not at.exception, at.exception
    return at


def test_housing_with_locked_and_one_sided_features(cache_dir):
    at = open_page()
    widget(at, "selectbox", "counterfactuals_dataset").set_value("housing").run()
    widget(at, "selectbox", "counterfactuals_density_housing").set_value("knn")
    widget(at, "multiselect", "counterfactuals_locked_housing").set_value(["rm", "lstat"])
    widget(at, "multiselect", "counterfactuals_decrease_housing").set_value(["crim"])
    widget(at, "number_input", "counterfactuals_steps").set_value(40)
    find(at)
    assert not at.error, [e.value for e in at.error]
    shown = at.session_state[RESULT]
    names = tabular_dataset("housing").feature_names
    for name, r in shown.results.items():
        for f in ("rm", "lstat"):
            assert float(r.x_adv[0, names.index(f)]) == float(shown.x[0, names.index(f)]), name
        assert float(r.x_adv[0, names.index("crim")]) <= float(shown.x[0, names.index("crim")])
    assert set(shown.results) == {"S-CFE", "DCFE", "CEM"}
    assert (shown.results["S-CFE"].x_adv != shown.x).sum() <= 2
    tables = [d.value for d in at.dataframe]
    assert list(tables[0]["method"]) == ["S-CFE", "DCFE", "CEM"] and "LOF" in tables[0]
    assert "unit" in tables[1] and set(tables[1]["feature"]).isdisjoint({"rm", "lstat"})


@pytest.mark.parametrize(("typed", "named"), [("abc", "'crim'"), ("1e9", "'crim'")])
def test_typed_values_refused_naming_the_feature(cache_dir, typed, named):
    at = open_page()
    widget(at, "selectbox", "counterfactuals_dataset").set_value("housing").run()
    widget(at, "radio", "counterfactuals_source").set_value("typed").run()
    area = next(w for w in at.text_area if w.key.startswith("counterfactuals_typed"))
    area.set_value(typed + area.value[area.value.index(","):]).run()
    assert not at.exception, at.exception
    assert any(named in e.value and "Nothing was run" in e.value for e in at.error)
    assert not [b for b in at.button if b.label == "Find counterfactuals"] and RESULT not in at.session_state


def test_mnist_draws_the_digit_its_counterfactual_and_the_changed_pixels(cache_dir):
    at = open_page()
    widget(at, "selectbox", "counterfactuals_dataset").set_value("mnist").run()
    assert widget(at, "number_input", "counterfactuals_m_mnist").value == 25  # the talk's m for MNIST
    widget(at, "selectbox", "counterfactuals_density_mnist").set_value("knn")
    widget(at, "multiselect", "counterfactuals_methods").set_value([])
    widget(at, "number_input", "counterfactuals_steps").set_value(30)
    find(at)
    shown = at.session_state[RESULT]
    assert (shown.results["S-CFE"].x_adv != shown.x).sum() <= 25
    assert len(at.get("plotly_chart")) >= 1
