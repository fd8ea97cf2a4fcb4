"""The Attributes page through Streamlit's AppTest: one digit's panels equal the study view's, a grounded
attribute is marked, the study section's figures are the study's, a missing robust model is said."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
PAGE = "attributes/page.py"


@pytest.fixture
def page(tmp_path, monkeypatch):
    monkeypatch.setenv("XADV_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(str(APP), default_timeout=600)
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def test_one_digit_attacked_and_explained(page):
    from core.attributes.matrix import load_digit_attributes
    from core.data import digit_label, load_digit
    from core.models import load
    from core.studies.attributes import StudyConfig, Subject, digit_data, fitted_sje
    from core.studies.attributes_view import inspect

    page.session_state["attributes_method"] = "saliency"
    page.button(key="FormSubmitter:attributes_form-Attack and explain").click().run()
    assert not page.exception, page.exception
    text = " ".join(m.value for m in page.markdown)
    loaded = load("mnist_cnn", device="cpu")
    sje = fitted_sje(Subject("page", loaded.model, loaded.info.model_id), digit_data(1), StudyConfig(), None)
    view = inspect(loaded.model, sje, load_digit(3).tensor, digit_label(3), 0.12,
                   standardise=load_digit_attributes()[1], method="saliency")
    from core.attributes.morphometry import ATTRIBUTES
    assert f"into a **{view.wrong}**" in text  # the verdict is the view's
    for side in (view.clean, view.adversarial):
        for j, i in enumerate(side.indices):
            assert f"{j + 1}. {ATTRIBUTES[i].label}" in text
    grounded = int(view.clean.grounding.grounded.sum()) + int(view.adversarial.grounding.grounded.sum())
    assert text.count(":orange[**grounded**]") == grounded > 0
    assert len(page.get("plotly_chart")) >= 4  # two grid rows and two bar charts


def test_the_study_section_shows_the_studys_figures(page):
    page.slider(key="attributes_study_n_digits").set_value(10)
    page.button(key="FormSubmitter:attributes_study_form-Run the study").click().run()
    assert not page.exception, page.exception
    result = page.session_state["attributes_study_result"]
    assert result.config.n == 10 and len(result.labels) == 10
    figure4 = next(json.loads(c.proto.spec) for c in page.get("plotly_chart") if "Figure 4" in c.proto.spec)
    table = result.accuracy()
    drawn = {trace["name"]: trace["y"] for trace in figure4["data"]}
    assert drawn["general, standard"] == pytest.approx([table["general_standard"][c] for c in result.columns()])
    assert drawn["attribute, standard"] == pytest.approx([table["attribute_standard"][c] for c in result.columns()])
    assert ("robust" in " ".join(drawn)) == (result.robust is not None)


def test_a_dataset_of_ones_own_in_the_awa2_layout(page, tmp_path):
    from tests.test_attributes_datasets import CLASSES, awa2_fixture

    root = awa2_fixture(tmp_path / "awa2")
    page.session_state["attributes_source"] = "dataset"
    page.session_state["attributes_layout"] = "awa2"
    page.session_state["attributes_root"] = str(root)
    page.session_state["attributes_method"] = "saliency"
    page.run()
    assert not page.exception, page.exception
    assert any("15 images, 3 classes, 4 attributes" in c.value for c in page.caption)
    page.button(key="FormSubmitter:attributes_form-Attack and explain").click().run()
    assert not page.exception, page.exception
    shown = page.session_state["attributes_result"].inspection
    assert shown.clean.grounding.masks is None  # nothing measured: attribution only, and the page says so
    assert any("attribution only" in c.value for c in page.caption)
    text = " ".join(m.value for m in page.markdown)
    assert f"general **{CLASSES[shown.clean.general]}**" in text
    page.session_state["attributes_root"] = str(tmp_path / "nowhere")
    page.run()
    assert not page.exception and any("nowhere" in e.value for e in page.error)
