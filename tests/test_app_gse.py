"""The GSE page through Streamlit's AppTest: a digit attacked by the four attacks, one grid row each with its
pictures (perturbed pixels red exactly where the perturbation is non-zero), the figures beside them; the
Figure 2 study run draws IS against nu."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def open_page(cache_dir) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=240)
    at.run()
    at.switch_page("gse/page.py").run()
    assert not at.exception, at.exception
    return at


def test_a_digit_attacked_by_the_four_attacks(cache_dir):
    at = open_page(cache_dir)
    assert at.selectbox(key="gse_model").value == "mnist_cnn"
    at.number_input(key="gse_steps").set_value(60)
    at.number_input(key="gse_search").set_value(4)
    [run] = [b for b in at.get("button") if "Run the four" in str(b.proto.label)]
    run.click().run()
    assert not at.exception, at.exception
    rows = [c for c in at.get("plotly_chart") if c.key and c.key.startswith("gse_grid_row")]
    assert len(rows) == 4
    texts = " ".join(m.value for m in at.markdown)
    for name in ("GSE", "StrAttack", "FWnucl", "FBS"):
        assert f"**{name}**" in texts
    assert "**fooled**" in texts  # GSE fools digit 0 at these settings
    # the red cell of GSE's row: red exactly where the perturbation is non-zero
    state = at.session_state["gse_result"]
    delta = state["results"]["GSE"].delta[0].abs().sum(0).numpy() != 0
    figure = json.loads(rows[0].proto.spec)
    assert len(figure["data"]) == 4 and delta.any()
    from core.studies.gse_view import red_pixels

    image = at.session_state["gse_result"]["results"]["GSE"].x_adv[0] - state["results"]["GSE"].delta[0]
    red = red_pixels(image, state["results"]["GSE"].delta[0])
    is_red = (red[..., 0] == 255) & (red[..., 1] == 0) & (red[..., 2] == 0)
    assert np.array_equal(is_red & delta, delta)


def test_the_figure_2_study_draws_is_against_nu(cache_dir):
    at = open_page(cache_dir)
    at.number_input(key="gse_curve_n").set_value(3)
    [run] = [b for b in at.get("button") if "Run the study" in str(b.proto.label)]
    run.click().run()
    assert not at.exception, at.exception
    [chart] = [c for c in at.get("plotly_chart") if c.key == "gse_curve_fig"]
    data = json.loads(chart.proto.spec)["data"]
    assert [d["name"] for d in data] == ["GSE", "StrAttack", "FWnucl"]
    assert all(len(d["x"]) == 5 for d in data)
