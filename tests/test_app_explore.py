"""The Explore page driven through Streamlit's AppTest (in-process, no browser).

Each test gets its own result cache directory (``XADV_CACHE_DIR``); models load once per process.
"""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import core.explain.explanation as explanation_module
from core.data import gallery_image
from core.models.hierarchy import Hierarchy
from figures import plotly_array, visible_fraction
from image_bytes import black_1bit_png, encode

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
DOMESTIC_CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture
def explain_calls(monkeypatch):
    """Counts calls of core's ``explain`` (the page imports it on every run, so the patch is seen)."""
    calls = []
    original = explanation_module.explain

    def counting(*args, **kwargs):
        calls.append(args[2] if len(args) > 2 else kwargs.get("method"))
        return original(*args, **kwargs)

    monkeypatch.setattr(explanation_module, "explain", counting)
    return calls


def start(cache_dir) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=180)
    at.run()  # the start page
    at.switch_page("explore/page.py").run()
    assert not at.exception, at.exception
    return at


def chart(at: AppTest, key: str) -> dict:
    """The plotly figure (as JSON) of the chart with ``key``."""
    found = [c for c in at.get("plotly_chart") if c.key == key]
    assert found, f"no plotly chart {key!r}; charts: {[c.key for c in at.get('plotly_chart')]}"
    return json.loads(found[0].proto.spec)


def heatmap_keys(at: AppTest) -> list[str]:
    return sorted(c.key for c in at.get("plotly_chart") if c.key and c.key.startswith("explore_map_"))


def click_explain(at: AppTest) -> AppTest:
    [button] = [b for b in at.button if b.label == "Explain"]
    button.click().run()
    assert not at.exception, at.exception
    return at


def result_captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption if c.value.startswith("**") and "colour scale" in c.value]


def test_default_image_prediction_and_lrp_heatmap(cache_dir, explain_calls):
    at = start(cache_dir)
    assert at.selectbox(key="explore_model").value == "efficientnet_lite0"
    assert at.selectbox(key="explore_image_gallery").value == "chelsea"
    top5 = chart(at, "explore_top5")["data"][0]
    names, probabilities = top5["y"], top5["x"]
    assert len(names) == 5 and probabilities == sorted(probabilities, reverse=True)
    top1 = int(names[0].rsplit("(", 1)[1].rstrip(")"))
    assert top1 in DOMESTIC_CATS, names
    assert not heatmap_keys(at) and not explain_calls  # nothing runs before "Explain"

    click_explain(at)
    assert explain_calls == ["lrp"]
    assert heatmap_keys(at) == ["explore_map_0"]
    fig = chart(at, "explore_map_0")
    trace = fig["data"][0]
    assert trace["type"] == "heatmap" and trace["zmid"] == 0
    assert trace["zmin"] == pytest.approx(-trace["zmax"]) and trace["zmax"] > 0
    z = plotly_array(trace["z"])
    assert z.shape == (224, 224) and np.isfinite(z).all() and np.abs(z).max() > 0
    assert fig["layout"]["yaxis"]["autorange"] == "reversed"  # image orientation
    [caption] = result_captions(at)
    assert "LRP" in caption and "composite=epsilon_plus_flat" in caption and "(cached)" not in caption
    stored = at.session_state["explore_results"]
    [e] = stored["explanations"]
    assert e.method == "lrp" and e.target == top1 and e.relevance.shape == (3, 224, 224)
    assert sorted(d.label for d in at.get("download_button")) == ["JSON", "NPZ", "PNG"]

    # Display settings outside the form change the picture, never recompute.
    at.select_slider(key="explore_scale_percentile").set_value(100.0).run()
    assert not at.exception
    assert explain_calls == ["lrp"]
    assert chart(at, "explore_map_0")["data"][0]["zmax"] == pytest.approx(float(np.abs(e.heatmap).max()), rel=1e-5)


def test_saliency_and_integrated_gradients(cache_dir):
    at = start(cache_dir)
    at.multiselect(key="explore_methods").set_value(["saliency", "integrated_gradients"])
    at.slider(key="explore_integrated_gradients_n_steps").set_value(8)
    click_explain(at)
    assert heatmap_keys(at) == ["explore_map_0", "explore_map_1"]
    titles = [chart(at, k)["layout"]["title"]["text"] for k in heatmap_keys(at)]
    assert titles == ["Saliency", "Integrated gradients"]
    saliency, ig = at.session_state["explore_results"]["explanations"]
    assert saliency.method == "saliency" and (saliency.relevance >= 0).all()  # abs=True by default
    assert ig.method == "integrated_gradients" and ig.params["n_steps"] == 8 and (ig.relevance < 0).any()
    captions = result_captions(at)
    assert captions[0].startswith("**Saliency**") and "n_steps=8" in captions[1]
    # each map on its own scale, absolute saliency on a one-sided one (0 to its 99.5th percentile)
    drawn = [chart(at, k)["data"][0] for k in heatmap_keys(at)]
    for trace, e in zip(drawn, (saliency, ig)):
        assert trace["zmax"] == pytest.approx(np.percentile(np.abs(e.heatmap), 99.5), rel=1e-5)
    assert drawn[0]["zmin"] == 0 and "colour scale 0 to" in captions[0]
    assert drawn[1]["zmin"] == pytest.approx(-drawn[1]["zmax"]) and "colour scale ±" in captions[1]


def test_second_run_with_same_settings_comes_from_the_cache(cache_dir, explain_calls):
    at = start(cache_dir)
    click_explain(at)
    first = at.session_state["explore_results"]["explanations"][0]
    assert not first.cached and "(cached)" not in result_captions(at)[0]
    assert any(cache_dir.iterdir())  # the temporary cache, not ~/.cache, received the entry

    again = start(cache_dir)  # a new browser session: only the persistent cache is shared
    click_explain(again)
    second = again.session_state["explore_results"]["explanations"][0]
    assert second.cached and "(cached)" in result_captions(again)[0]
    np.testing.assert_array_equal(first.relevance, second.relevance)


def test_changing_the_image_drops_old_results(cache_dir):
    at = start(cache_dir)
    click_explain(at)
    assert heatmap_keys(at)
    at.selectbox(key="explore_image_gallery").set_value("coffee").run()
    assert not at.exception
    assert not heatmap_keys(at) and "explore_results" not in at.session_state


def test_coarse_to_fine_decisions_are_shown(cache_dir):
    at = start(cache_dir)
    at.selectbox(key="explore_hierarchy").set_value("imagenet_c2f").run()
    assert not at.exception, at.exception
    hierarchy = Hierarchy.named("imagenet_c2f")
    lines = [m.value for m in at.markdown if m.value.startswith(("Coarse decision:", "Fine decision:"))]
    coarse_line, fine_line = lines
    coarse, coarse_p = re.fullmatch(r"Coarse decision: \*\*(.+)\*\* \((\d+\.\d)%\)", coarse_line).groups()
    fine, fine_p = re.fullmatch(r"Fine decision: \*\*(.+)\*\* \((\d+\.\d)% within (.+)\)", fine_line).groups()[:2]
    r = hierarchy.coarse_names.index(coarse)
    assert fine in hierarchy.fine_names[r]
    assert 100 / hierarchy.num_coarse <= float(coarse_p) <= 100 and 0 < float(fine_p) <= 100
    bars = chart(at, "explore_coarse")["data"][0]
    assert list(bars["y"]) == list(hierarchy.coarse_names)
    assert sum(bars["x"]) == pytest.approx(1.0, abs=1e-4)
    assert max(range(len(bars["x"])), key=bars["x"].__getitem__) == r  # the decision is the largest bar
    click_explain(at)  # explanations still explain the flat classifier's class
    [e] = at.session_state["explore_results"]["explanations"]
    assert e.target in DOMESTIC_CATS and e.model_id.startswith("efficientnet_lite0/imagenet_c2f.")


def test_an_upload_that_is_not_an_image_shows_a_clear_error(cache_dir):
    at = start(cache_dir)
    at.radio(key="explore_image_source").set_value("Upload").run()
    at.file_uploader(key="explore_image_upload").set_value(("notes.jpg", b"just some text\n", "image/jpeg")).run()
    assert not at.exception
    assert any("not an image Pillow can read" in e.value for e in at.main.error)  # where the page would be
    assert not at.sidebar.error  # not below the fold of the sidebar, out of sight
    assert at.selectbox(key="explore_model").value == "efficientnet_lite0"  # the page is still alive
    assert not at.get("plotly_chart")


def _rgba_png() -> bytes:
    rgba = np.zeros((64, 64, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red, transparent on the left half
    rgba[:, 32:, 3] = 255
    return encode(Image.fromarray(rgba, "RGBA"), "PNG")


def _tiff16() -> bytes:
    ramp = (np.linspace(0, 65535, 128 * 96).reshape(96, 128)).astype(np.uint16)
    return encode(Image.fromarray(ramp), "TIFF")


def _png_50_megapixels() -> bytes:
    return black_1bit_png(8000, 6250)  # tiny file, 50 million pixels


@pytest.mark.parametrize("name, data, expect", [
    ("alpha.png", _rgba_png, "mode RGBA"),
    ("depth.tif", _tiff16, "mode I;16"),
    ("huge.png", _png_50_megapixels, "megapixels"),
])
def test_odd_uploads_load_or_are_refused_clearly(cache_dir, name, data, expect):
    at = start(cache_dir)
    at.radio(key="explore_image_source").set_value("Upload").run()
    at.file_uploader(key="explore_image_upload").set_value((name, data(), "application/octet-stream")).run()
    assert not at.exception
    if expect == "megapixels":
        assert any("over the limit of 40,000,000 pixels" in e.value for e in at.error)
        assert [s for s in at.selectbox if s.key == "explore_model"]  # the page still works
    else:
        assert not at.error and any(expect in c.value for c in at.caption)
        click_explain(at)
        [e] = at.session_state["explore_results"]["explanations"]
        assert e.relevance.shape == (3, 224, 224) and np.isfinite(e.relevance).all()


def test_a_real_upload_is_explained(cache_dir):
    buffer = io.BytesIO()
    gallery_image("chelsea").save(buffer, format="JPEG", quality=92)
    at = start(cache_dir)
    at.radio(key="explore_image_source").set_value("Upload").run()
    at.file_uploader(key="explore_image_upload").set_value(("cat.jpg", buffer.getvalue(), "image/jpeg")).run()
    assert not at.exception and not at.error
    assert any("Original 451×300 px, mode RGB" in c.value for c in at.caption)
    assert not any("Enlarged" in c.value for c in at.caption)  # 300 px -> 256 px
    click_explain(at)
    [e] = at.session_state["explore_results"]["explanations"]
    assert e.image_name == "cat.jpg" and e.target in DOMESTIC_CATS


def test_a_model_without_weights_says_how_to_fix_it(cache_dir, tmp_path, monkeypatch):
    import streamlit as st

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # an empty torchvision cache
    st.cache_data.clear()
    at = start(cache_dir)
    at.selectbox(key="explore_model").set_value("vgg16").run()
    assert not at.exception
    assert any("No offline weights for vgg16" in e.value for e in at.error)
    assert not [b for b in at.button if b.label == "Explain"]  # the page stopped there
    at.file_uploader(key="explore_weights_vgg16").set_value(("vgg.pt", b"not a state dict", "application/octet-stream"))
    at.run()
    assert not at.exception
    assert any("not a PyTorch state-dict file" in e.value for e in at.error)


def test_uploaded_weights_for_a_model_without_offline_weights(cache_dir, tmp_path, monkeypatch):
    """mnist_cnn as if it had no weights here, then a state dict uploaded in the sidebar:
    grayscale 28x28 input, digit classes, the MNIST hierarchy offered."""
    import dataclasses

    import streamlit as st
    import torch

    from core.models import registry
    from core.models.mnist_cnn import MnistCNN

    spec = dataclasses.replace(registry.REGISTRY["mnist_cnn"], offline_weights=lambda: None)
    monkeypatch.setitem(registry.REGISTRY, "mnist_cnn", spec)
    st.cache_data.clear()
    st.cache_resource.clear()
    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.save(MnistCNN().state_dict(), buffer)
    at = start(cache_dir)
    at.selectbox(key="explore_model").set_value("mnist_cnn").run()
    assert any("mnist_cnn" in e.value for e in at.error) and not at.get("plotly_chart")
    weights = ("mine.pt", buffer.getvalue(), "application/octet-stream")
    at.file_uploader(key="explore_weights_mnist_cnn").set_value(weights)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    hierarchy = next(s for s in at.selectbox if s.key == "explore_hierarchy")
    assert hierarchy.options == ["none", "mnist_c2f"]  # only the hierarchy over 10 classes
    assert any("MNIST test image 0: a handwritten 0, 28×28 grayscale" in c.value for c in at.caption)
    names = chart(at, "explore_top5")["data"][0]["y"]
    assert all(n.split(" (")[0] in [str(d) for d in range(10)] for n in names)
    at.multiselect(key="explore_methods").set_value(["lrp", "saliency"])
    click_explain(at)
    lrp, saliency = at.session_state["explore_results"]["explanations"]
    assert lrp.relevance.shape == saliency.relevance.shape == (1, 28, 28)
    assert lrp.model_id.startswith("mnist_cnn/flat/")
    from dashboard.widgets import models

    kept, keep = [], models._kept_weights
    monkeypatch.setattr(models, "_kept_weights", lambda upload: kept.append(upload.name) or keep(upload))
    at.run()
    assert kept == [] and not at.error  # hashed and written once per upload, not on every rerun
    at.switch_page("c2f/page.py").run()
    at.switch_page("explore/page.py").run()  # Streamlit empties an uploader that was not drawn
    assert not at.exception and not at.error, [e.value for e in at.error]  # the page kept the weights
    assert any(c.value.startswith("Using mine.pt, uploaded earlier") for c in at.caption)
    assert at.session_state["explore_results"]["explanations"][0].model_id == lrp.model_id
    top5 = chart(at, "explore_top5")["data"][0]["x"]
    other = tmp_path / "other.pt"
    torch.save(MnistCNN().state_dict(), other)  # other random weights
    at.text_input(key="explore_weights_path_mnist_cnn").set_value(str(other)).run()  # typed after: it is used
    assert not at.error and chart(at, "explore_top5")["data"][0]["x"] != top5
    at.text_input(key="explore_weights_path_mnist_cnn").set_value("").run()  # the kept upload again
    assert chart(at, "explore_top5")["data"][0]["x"] == top5
    uploader = at.file_uploader(key="explore_weights_mnist_cnn")
    uploader.set_value(("mine.pt", buffer.getvalue(), "application/octet-stream")).run()
    assert not at.exception and not at.error and kept == ["mine.pt"]  # a new upload: kept anew
    at.file_uploader(key="explore_weights_mnist_cnn").set_value(None).run()  # removed (its x): forgotten
    assert any("mnist_cnn" in e.value for e in at.error) and not at.get("plotly_chart")


def test_the_image_policy_points_out_a_strong_enlargement():
    from core.data import load_image
    from core.models import load
    from dashboard.widgets.images import image_policy

    info = load("efficientnet_lite0", device="cpu").info  # shorter side to 224 / 0.875 = 256 px
    for side, note in ((10, "Enlarged 26×"), (64, "Enlarged 4×"), (65, None)):
        image = load_image(encode(Image.new("RGB", (side * 2, side), "red"), "PNG"), **info.input.loading())
        policy = image_policy(image, info)
        assert (note in policy) if note else ("Enlarged" not in policy)


def test_the_image_policy_points_out_a_crop_that_drops_most_of_a_wide_image():
    from core.data import load_image
    from core.models import load
    from dashboard.widgets.images import image_policy

    info = load("efficientnet_lite0", device="cpu").info  # centre crop 224 of 256 px on the shorter side
    for size, note in (((2560, 256), "keeps 9% of its width"), ((256, 1024), "keeps 22% of its height"),
                       ((400, 300), None)):
        image = load_image(encode(Image.new("RGB", size, "red"), "PNG"), **info.input.loading())
        policy = image_policy(image, info)
        assert (note in policy) if note else ("centre crop keeps" not in policy)


def test_colour_bar_ends_are_written_short_enough_for_a_narrow_column():
    from dashboard.widgets.figures import _compact, heatmap_figure

    assert [_compact(v) for v in (4.4e-5, 0.000105, 12.0, 2e10)] == ["4.4e-5", "0.00011", "12", "2e10"]
    bar = heatmap_figure(np.zeros((4, 4)), 3.7e-8, "map").data[0].colorbar
    assert list(bar.ticktext) == ["−3.7e-8", "0", "+3.7e-8"] and bar.len < 0.9


def test_no_hierarchy_stays_chosen_over_reruns(cache_dir):
    """app.py writes each page's widget values back on every run; a None option read back showed as no choice."""
    at = start(cache_dir)
    for _ in range(2):
        hierarchy = at.selectbox(key="explore_hierarchy")
        assert hierarchy.value == "none" and hierarchy.index == 0
        at.run()
    at.selectbox(key="explore_hierarchy").set_value("imagenet_c2f").run()
    at.run()
    assert at.selectbox(key="explore_hierarchy").value == "imagenet_c2f"


@pytest.mark.parametrize("photo", ["chelsea", "coffee"])
def test_no_map_is_blank_under_the_defaults_on_the_page_or_in_its_png(cache_dir, photo):
    """Every method at its defaults: each drawn map shows its structure on its scale (LRP's values are a
    millionth of saliency's: on one shared scale it was a white square), and so does each PNG download,
    which carries its colour bar and the scale it was drawn on."""
    at = start(cache_dir)
    at.selectbox(key="explore_image_gallery").set_value(photo).run()
    at.multiselect(key="explore_methods").set_value(["lrp", "saliency", "integrated_gradients", "deeplift_shap"])
    click_explain(at)
    keys = heatmap_keys(at)
    assert len(keys) == 4
    for key in keys:
        trace = chart(at, key)["data"][0]
        assert visible_fraction(plotly_array(trace["z"]), trace["zmin"], trace["zmax"]) > 0.05, key
    pngs = [b for b in at.get("download_button") if b.proto.label == "PNG"]
    assert len(pngs) == 4
    for e, button in zip(at.session_state["explore_results"]["explanations"], pngs):
        target = e.target_name.lower().replace(" ", "-")
        assert button.proto.help.endswith(f"_{e.method}_{target}_heatmap.png")  # the class is in the file name
    for e, files in zip(at.session_state["explore_results"]["explanations"],
                        at.session_state["explore_results"]["files"].values()):
        picture = Image.open(io.BytesIO(files["heatmap.png"]))
        scale = json.loads(picture.text["xadv:colour_scale"])
        report = json.loads(files["explanation.json"])
        assert report["colour_scale"] == scale and scale["signed"] == (e.method != "saliency")
        pixels = np.asarray(picture.convert("RGB"))[16:240].astype(int)  # the map, under its title
        assert (np.abs(pixels - 255).sum(axis=2) > 30).mean() > 0.05, e.method  # not a plain white square


def test_a_run_cut_short_keeps_the_maps_that_finished_and_says_so(cache_dir, monkeypatch):
    """Stop (or any change) ends the script inside the run: the maps that had finished stay on the page,
    and the next run says the run was cut short. The status line at the top is gone afterwards."""
    original = explanation_module.explain

    def second_fails(loaded, image, method, *args, **kwargs):
        if method == "saliency":
            raise RuntimeError("cut short")  # the script ends inside the run, as a Stop ends it
        return original(loaded, image, method, *args, **kwargs)

    at = start(cache_dir)
    at.multiselect(key="explore_methods").set_value(["lrp", "saliency"])
    monkeypatch.setattr(explanation_module, "explain", second_fails)
    [button] = [b for b in at.button if b.label == "Explain"]
    button.click().run()
    assert at.exception
    monkeypatch.setattr(explanation_module, "explain", original)
    at.run()
    assert not at.exception, at.exception
    [warning] = [w.value for w in at.warning if "did not finish" in w.value]
    assert warning.startswith("LRP, Saliency on chelsea did not finish") and "finished are shown" in warning
    assert heatmap_keys(at) == ["explore_map_0"]  # LRP's map, kept
    assert [e.method for e in at.session_state["explore_results"]["explanations"]] == ["lrp"]
    assert not [b for b in at.button if b.label == "Stop"]  # no status line once nothing runs


def test_a_second_run_draws_its_status_line_again(cache_dir):
    """The status line's Stop button is a widget whose value session state may not be given: keeping the
    page's settings must leave it out, or the next run's status line fails."""
    at = start(cache_dir)
    click_explain(at)
    at.selectbox(key="explore_image_gallery").set_value("coffee").run()
    click_explain(at)  # asserts no exception
    assert heatmap_keys(at) == ["explore_map_0"]
