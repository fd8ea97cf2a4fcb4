"""The eXIAA page driven through Streamlit's AppTest (in-process, no browser), on mnist_cnn with the MNIST
digits as the pool (seconds per attack): what it shows equals the study's figures at the same settings, its
grid section draws the study's means, and bad input gives a message and runs nothing. Each test gets its own
result cache directory (``XADV_CACHE_DIR``)."""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.data import load_digit
from core.data.pools import digit_pool
from core.models import load
from core.studies import exiaa as study
from figures import plotly_array

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
PAGE = "exiaa/page.py"
RUN = "FormSubmitter:exiaa_form-Run eXIAA"
GRID_RUN = "FormSubmitter:exiaa_grid_form-Run the grid"
FIGURES = ["explanation change (%)", "SSIM", "confidence change (points)"]


def open_page() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=600)
    at.run()
    at.session_state["exiaa_model"] = "mnist_cnn"
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def attack(at: AppTest, method: str, alpha: float, top_k: float) -> AppTest:
    at.selectbox(key="exiaa_method").set_value(method)
    at.select_slider(key="exiaa_alpha").set_value(alpha)
    at.select_slider(key="exiaa_top_k").set_value(top_k)
    at.button(key=RUN).click().run()
    assert not at.exception, at.exception
    return at


def shown(at: AppTest) -> dict[str, dict[str, float]]:
    """The figures table: {"eXIAA": {...}, "Gaussian baseline": {...}}."""
    [table] = at.dataframe  # the only table on the page
    return table.value.to_dict(orient="index")


def grid_traces(at: AppTest) -> list[list[dict]]:
    """The compact grid's rows, each its traces (Plotly JSON)."""
    charts = {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.key}
    return [charts[f"exiaa_grid_row{i}"]["data"] for i in range(4)]


def picture(trace: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(trace["source"].split(",", 1)[1]))).convert("L"))


def study_at(method: str, alphas, top_ks, pool=None):
    loaded = load("mnist_cnn", device="cpu")
    digit = load_digit(0, "test")
    config = study.StudyConfig(methods=(method,), alphas=tuple(alphas), top_ks=tuple(top_ks))
    return study.evaluate(loaded.model, digit.tensor, config, pool or digit_pool(), image_names=["0"],
                          image_digests=[digit.digest], class_names=loaded.info.class_names)


def test_the_shown_attack_is_the_studys_at_the_same_settings_with_its_mask_and_queries(cache_dir):
    at = attack(open_page(), "saliency", 0.06, 0.1)
    figures = shown(at)
    result = study_at("saliency", [0.06], [0.1])
    for label, who in (("eXIAA", "ours"), ("Gaussian baseline", "baseline")):
        for name, figure in zip(FIGURES, ("change_pct", "ssim", "confidence_pct")):
            assert figures[label][name] == pytest.approx(float(result.mean("saliency", who, figure)[0, 0]), rel=1e-9)
    grid = result.grids["saliency"][0]
    rows = grid_traces(at)
    assert len(rows[0]) == 2 and len(rows[1]) == 3 and len(rows[2]) == len(rows[3]) == 5  # x, x̄, ours, baseline
    for row in (1, 2, 3):  # the mask of injected entries: one channel, so m white pixels
        assert int((picture(rows[row][2]) == 255).sum()) == int(grid.entries[0, 0])
    texts = [m.value for m in at.markdown]
    queries = next(t for t in texts if t.startswith("**Queries of the attack**"))
    assert "predict 2 images" in queries and "explain 1 (x̄)" in queries and "5,000 pool images predicted" in queries
    assert any(t.startswith(f"**Attack image x̄** · {grid.attack_names[0]}") for t in texts)
    attack(at, "saliency", 0.15, 0.1)  # again: the pool's probabilities now come from the cache
    queries = next(m.value for m in at.markdown if m.value.startswith("**Queries of the attack**"))
    assert "came from the cache (0 queries)" in queries
    assert shown(at)["eXIAA"]["explanation change (%)"] > figures["eXIAA"]["explanation change (%)"]


def test_the_grid_section_draws_the_studys_means_and_figure_5(cache_dir):
    at = attack(open_page(), "saliency", 0.15, 0.3)
    single = shown(at)["eXIAA"]["explanation change (%)"]
    at.multiselect(key="exiaa_grid_alphas").set_value([0.06, 0.15])
    at.multiselect(key="exiaa_grid_top_ks").set_value([0.1, 0.3])
    at.button(key=GRID_RUN).click().run()
    assert not at.exception, at.exception
    change = json.loads(at.get("plotly_chart")[[c.key for c in at.get("plotly_chart")].index(
        "exiaa_fig_saliency_change_pct")].proto.spec)["data"]
    result = study_at("saliency", [0.06, 0.15], [0.1, 0.3])
    lines = {t["name"]: (plotly_array(t["y"]), t["line"].get("dash")) for t in change}
    for i, alpha in enumerate((0.06, 0.15)):
        for who, word, dash in (("ours", "eXIAA", "solid"), ("baseline", "baseline", "dot")):
            y, style = lines[f"α {alpha:g}, {word}"]
            assert style == dash and y == pytest.approx(result.mean("saliency", who, "change_pct")[i])
    assert lines["α 0.15, eXIAA"][0][1] == pytest.approx(single)  # the grid's point is the single attack
    at.button(key="FormSubmitter:exiaa_figure5_form-Run Figure 5").click().run()
    assert not at.exception, at.exception
    fig5 = {t["name"]: plotly_array(t["y"]) for t in json.loads(next(
        c for c in at.get("plotly_chart") if c.key == "exiaa_fig5_saliency").proto.spec)["data"]}
    assert fig5["α 0.15, running-up class"] == pytest.approx(lines["α 0.15, eXIAA"][0])
    assert set(fig5) == {f"α {a:g}, {w}" for a in (0.06, 0.15) for w in ("running-up class", "other classes")}


def test_a_bad_upload_gives_a_message_and_runs_nothing(cache_dir, monkeypatch):
    from dashboard.exiaa import single

    runs = []
    for module, name in ((single, "attack_one"), (single, "pool_pass"), (study, "image_grid")):
        monkeypatch.setattr(module, name, lambda *a, _name=name, **k: runs.append(_name))
    at = open_page()
    at.radio(key="exiaa_image_source_digits").set_value("Upload").run()
    at.file_uploader(key="exiaa_image_upload").set_value(("notes.png", b"not an image", "image/png")).run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["This is not an image Pillow can read; use a PNG, JPEG, GIF, TIFF, BMP or "
                                           "WebP file."]
    assert RUN not in [b.key for b in at.button] and "exiaa_result" not in at.session_state and not runs
    at.radio(key="exiaa_image_source_digits").set_value("MNIST digit").run()
    at.radio(key="exiaa_pool_source_digits").set_value("folder").run()
    at.text_input(key="exiaa_pool_folder").set_value(str(cache_dir / "missing")).run()
    assert any("does not exist" in e.value for e in at.error)
    assert RUN not in [b.key for b in at.button] and "exiaa_result" not in at.session_state and not runs


def test_uploaded_pool_images_are_the_candidates_and_a_bad_file_is_left_out(cache_dir):
    from core.data.mnist import mnist_split

    at = open_page()
    at.radio(key="exiaa_pool_source_digits").set_value("uploads").run()
    digits = mnist_split("train")[0][:3]
    files = [(f"pool{i}.png", encode_png(d[0].numpy()), "image/png") for i, d in enumerate(digits)]
    at.file_uploader(key="exiaa_pool_upload").set_value([*files, ("notes.png", b"not an image", "image/png")]).run()
    assert not at.exception, at.exception
    assert [c.value for c in at.caption if c.value.startswith(":orange[Left out")] == [
        ":orange[Left out notes.png: This is not an image Pillow can read; use a PNG, JPEG, GIF, TIFF, BMP or WebP "
        "file.]"]
    attack(at, "saliency", 0.15, 0.3)
    shown_attack = at.session_state["exiaa_result"]
    assert shown_attack.pool == "your 3 uploaded images" and shown_attack.attack.attack_name in {f[0] for f in files}
    # the attack image: the upload predicted as the running-up class with the highest probability for it (Sec. 3.1)
    with torch.no_grad():
        p = load("mnist_cnn", device="cpu").model(digits).softmax(1)
    y_r = shown_attack.attack.y_r
    assert shown_attack.attack.attack_name == files[int((p[:, y_r] + 2 * (p.argmax(1) == y_r)).argmax())][0]


def encode_png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((pixels * 255).round().astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def test_the_grid_runs_on_a_folder_on_the_server_and_refuses_a_missing_one(cache_dir, tmp_path):
    from core.data import load_folder
    from core.data.mnist import mnist_split

    folder = tmp_path / "digits"
    folder.mkdir()
    for i, d in enumerate(mnist_split("test")[0][10:12]):
        (folder / f"d{i}.png").write_bytes(encode_png(d[0].numpy()))
    (folder / "notes.png").write_bytes(b"not an image")
    at = open_page()
    at.radio(key="exiaa_grid_images").set_value("folder")
    at.text_input(key="exiaa_grid_folder").set_value(str(tmp_path / "missing"))
    at.button(key=GRID_RUN).click().run()
    assert any("is not a folder on this machine" in e.value for e in at.error) and "exiaa_study" not in at.session_state
    at.text_input(key="exiaa_grid_folder").set_value(str(folder))
    at.multiselect(key="exiaa_grid_alphas").set_value([0.15])
    at.multiselect(key="exiaa_grid_top_ks").set_value([0.1, 0.5])
    at.button(key=GRID_RUN).click().run()
    assert not at.exception, at.exception
    assert any(c.value.startswith(":orange[Left out notes.png") for c in at.caption)
    result = at.session_state["exiaa_study"][1]
    assert result.image_names == ["d0.png", "d1.png"]
    loaded = load("mnist_cnn", device="cpu")
    images, _ = load_folder(folder, **loaded.info.input.loading())
    expected = study.evaluate(loaded.model, torch.cat([im.tensor for im in images]), result.config, digit_pool(),
                              image_names=["d0.png", "d1.png"], image_digests=[im.digest for im in images],
                              class_names=loaded.info.class_names)
    for who in study.WHO:
        assert result.mean("saliency", who, "change_pct") == pytest.approx(expected.mean("saliency", who, "change_pct"))
