"""The pages of attacks on images offer the image models only: the counterfactual study's tabular MLPs
take rows."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.models import REGISTRY
from core.models.inputs import TabularInput

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


@pytest.mark.parametrize("page, key", [("explore/page.py", "explore_model"), ("exiaa/page.py", "exiaa_model"),
                                       ("gse/page.py", "gse_model")])
def test_the_model_choice_holds_the_image_models_only(cache_dir, page, key):
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.run()
    at.session_state[key] = "mnist_cnn"  # quick to load
    at.switch_page(page).run()
    assert not at.exception, at.exception
    offered = [o.removesuffix(" (needs weights)") for o in at.selectbox(key=key).options]
    tabular = [name for name, spec in REGISTRY.items() if isinstance(spec.input, TabularInput)]
    assert tabular and not set(tabular) & set(offered)  # housing_mlp and the others take rows, not images
    assert set(offered) | set(tabular) == set(REGISTRY)  # every image model is there
