"""The Coarse-to-fine attacks page driven through Streamlit's AppTest (in-process, no browser).

mnist_cnn with mnist_c2f wherever the property does not depend on the model (its attacks take
seconds); the default efficientnet_lite0 / imagenet_c2f is attacked once, at the defaults on coffee, to
check that no map is blank on the page or in its PNG. Each test gets its own result cache directory
(``XADV_CACHE_DIR``).
"""
from __future__ import annotations

import base64
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.attacks.c2f import C2FLabels
from core.attacks.lrp_c2f import lrp_loss, lrp_norms
from core.data.images import load_image
from core.data.mnist import mnist_split
from core.explain.heatmap import scale_of
from core.models import load
from core.models.hierarchy import Hierarchy
from core.studies import c2f as study
from core.studies import c2f_claims
from dashboard.c2f.settings import typed_budget
from dashboard.widgets import images
from figures import plotly_array, visible_fraction
from image_bytes import encode

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
PAGE = "c2f/page.py"
MNIST = Hierarchy.named("mnist_c2f")
VISIBLE = 0.02  # a map whose share of pixels visibly off white (visible_fraction) is at most this looks blank


def open_page(model: str | None = None) -> AppTest:
    """A new browser session on the C2F page (with ``model`` chosen before the page first draws)."""
    at = AppTest.from_file(str(APP), default_timeout=600)
    at.run()  # the default page first: switch_page needs one run
    if model is not None:
        at.session_state["c2f_model"] = model
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def charts(at: AppTest, prefix: str = "c2f_") -> dict[str, dict]:
    """Plotly figures (as JSON) of the page whose key starts with ``prefix``, by key."""
    return {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.key and c.key.startswith(prefix)}


def plain(text: str) -> str:
    """Markdown math as plain text: "$r_{org}$" -> "r_org", "$L_C$" -> "L_C"."""
    return re.sub(r"[${}]", "", text)


def grid(at: AppTest, key: str = "c2f_grid") -> list[dict]:
    """The comparison grid's row figures (JSON), the original image's first."""
    figures = charts(at, key)
    rows = []
    while f"{key}_row{len(rows)}" in figures:
        rows.append(figures[f"{key}_row{len(rows)}"])
    return rows


def cells(row: dict) -> list[dict | None]:
    """A grid row's traces by column (None: an empty cell)."""
    columns = [None] * sum(name.startswith("xaxis") for name in row["layout"])
    for trace in row["data"]:
        columns[int(trace["xaxis"][1:] or 1) - 1] = trace
    return columns


def grid_maps(row: dict) -> list[np.ndarray]:
    """The row's heatmaps (LRP of the original class, of the adversarial one, then their changes) as arrays."""
    return [plotly_array(c["z"]) for c in cells(row) if c is not None and c["type"] == "heatmap"]


def row_texts(at: AppTest) -> list[str]:
    """The text beside each grid row."""
    return [m.value for m in at.markdown if m.value.startswith("**Original x**") or " · :green[✓" in m.value
            or " · :red[✗" in m.value]


def titles(row: dict) -> list[str]:
    return [a["text"] for a in row["layout"].get("annotations", [])]


def run_attacks(at: AppTest, eps: list[int] | None) -> AppTest:
    if eps is not None:
        at.multiselect(key="c2f_eps").set_value(eps)
    [button] = [b for b in at.button if b.label == "Run attacks"]
    button.click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def outcomes(at: AppTest) -> list[str]:
    return [plain(m.value) for m in at.markdown if "Iterations:" in m.value]


def number(text: str, pattern: str) -> float:
    return float(re.search(pattern, text).group(1))


def amplification(text: str) -> float:
    return number(text, r"η ×([\d,.e+]+)")


def totals(at: AppTest) -> list[float]:
    """The total relevance written under each map, in page order."""
    return [number(c.value, r"total relevance ([\d.e+-]+)") for c in at.caption if "total relevance" in c.value]


def decisions(at: AppTest) -> str:
    [text] = [plain(m.value) for m in at.markdown if m.value.startswith("**Coarse**")]
    return text


def test_default_model_shows_decisions_and_the_two_maps_before_any_attack(cache_dir, attack_calls):
    at = open_page()
    assert at.selectbox(key="c2f_model").value == "efficientnet_lite0"
    assert at.selectbox(key="c2f_hierarchy").value == "imagenet_c2f"
    hierarchy = Hierarchy.named("imagenet_c2f")
    text = decisions(at)
    r_org, p_org = re.search(r"r_org = \*\*(.+?)\*\* \((\d+\.\d)%\)", text).groups()
    r_adv, p_adv = re.search(r"r_adv = (.+?) \((\d+\.\d)%\)", text).groups()
    f_org = re.search(r"f_org = \*\*(.+?)\*\*", text).group(1)
    f_adv = re.search(r"f_adv = (.+?) \(", text).group(1)
    assert r_org == "food" and r_adv != r_org and r_adv in hierarchy.coarse_names  # the default photo: coffee
    assert float(p_org) > float(p_adv)
    members = hierarchy.fine_names[hierarchy.coarse_names.index(r_org)]
    assert f_org in members and f_adv in members and f_org != f_adv
    bars = charts(at)["c2f_before_probs"]["data"][0]["y"]  # long names on two lines: the column is narrow
    assert [name.replace("<br>", " ") for name in bars] == list(hierarchy.coarse_names)
    assert "electrical<br>device" in bars and all(len(line) <= 12 for name in bars for line in name.split("<br>"))
    [row] = grid(at)  # before any attack: the original image's row alone
    image, perturbation, org, adv, *changes = cells(row)
    assert image["type"] == perturbation["type"] == "image" and changes == [None, None]
    assert org["type"] == adv["type"] == "heatmap"
    assert org["zmax"] == adv["zmax"] > 0 and org["zmin"] == pytest.approx(-org["zmax"]) and org["zmid"] == 0
    assert org["zmax"] == pytest.approx(scale_of(grid_maps(row)).limit)  # the row's own scale: 99.5th percentile
    heads = titles(row)
    assert "r<sub>org</sub>" in heads[2] and r_org in heads[2]
    assert "r<sub>adv</sub>" in heads[3] and r_adv in heads[3]
    [text] = row_texts(at)
    assert f"**{r_org}** {p_org}%" in text and "maps ±" in text
    assert not attack_calls and "c2f_results" not in at.session_state  # nothing runs before the button


def test_mnist_coarse_attacks_maps_scale_metrics_and_cache(cache_dir, attack_calls):
    at = open_page("mnist_cnn")
    assert at.selectbox(key="c2f_hierarchy").value == "mnist_c2f"
    run_attacks(at, [10])
    assert attack_calls == ["lrp", "deepfool", "pgd"]
    stored = at.session_state["c2f_results"]
    names = [row.name for row in stored.rows]
    assert names == ["LRPC eps=10", "DFC", "PGDC"]  # the JSON's names; the page writes ε, as the poster does:
    assert [m.value.split("**")[1] for m in at.markdown if m.value.startswith("**After ")] == [
        "After LRPC ε=10", "After DFC", "After PGDC"]

    rows, texts = grid(at), row_texts(at)
    assert len(rows) == len(texts) == 4  # the original image, then one row per attack
    assert [t.split("**")[1] for t in texts] == ["Original x", "LRPC ε=10", "DFC", "PGDC"]
    peaks = [float(row.result.delta.abs().max()) for row in stored.rows]
    for text, peak in zip(texts[1:], peaks):  # by default each perturbation by its own factor
        assert amplification(text) == pytest.approx(0.5 / peak, rel=1e-2)
    at.toggle(key="c2f_same_amplification").set_value(True).run()
    for text in row_texts(at)[1:]:
        assert amplification(text) == pytest.approx(0.5 / max(peaks), rel=1e-2)  # one factor for all rows
    assert attack_calls == ["lrp", "deepfool", "pgd"]  # a display switch
    at.toggle(key="c2f_same_amplification").set_value(False).run()
    limits = []
    for row in rows:  # each row's two maps on one symmetric scale of that row alone, its changes on another
        org, adv, *changes = [c for c in cells(row) if c is not None and c["type"] == "heatmap"]
        assert org["zmax"] == adv["zmax"] == pytest.approx(scale_of(grid_maps(row)[:2]).limit)
        assert all(c["zmin"] == pytest.approx(-c["zmax"]) for c in (org, adv, *changes))
        for change, values in zip(changes, grid_maps(row)[2:]):  # each change on its own scale
            assert change["zmax"] == pytest.approx(scale_of([values]).limit)
        limits.append(org["zmax"])
    assert len(set(limits)) == 4
    at.toggle(key="c2f_one_scale").set_value(True).run()
    one = [[c for c in cells(row) if c is not None and c["type"] == "heatmap"] for row in grid(at)]
    assert len({m["zmax"] for row in one for m in row[:2]}) == 1  # one scale for every map
    assert len({m["zmax"] for row in one[1:] for m in row[2:]}) == 1  # and another for every change
    assert one[0][0]["zmax"] == pytest.approx(scale_of([m for row in rows for m in grid_maps(row)[:2]]).limit)
    assert any("All maps on ±" in c.value and "(one scale for all rows" in c.value for c in at.caption)
    at.toggle(key="c2f_one_scale").set_value(False).run()

    texts = outcomes(at)
    assert len(texts) == 3
    lrp_text, lrp_row = texts[0], stored.rows[0]
    x = lrp_row.result.x_adv - lrp_row.result.delta
    rho_inf = number(lrp_text, r"ρ∞ = ([\d.e+-]+)")
    linf_255 = number(lrp_text, r"‖η‖∞ = ([\d.e+-]+)/255")
    assert linf_255 <= 10 + 1e-3  # the budget, on the 0-255 scale
    assert rho_inf * float(x.abs().max()) <= 10 / 255 + 1e-4  # rho_inf = ||eta||_inf / ||x||_inf
    assert rho_inf == pytest.approx(lrp_row.figures["rho_inf_all"], rel=5e-3)  # three significant digits
    hc = load("mnist_cnn", hierarchy="mnist_c2f", device="cpu").model
    c2f_labels = C2FLabels.of(hc, x)
    for text, row in zip(texts, stored.rows):
        fooled = bool(row.result.success[0])
        assert ("**Fooled**" in text) == fooled and ("**Not fooled**" in text) != fooled
        assert re.search(rf"Coarse: \**{MNIST.coarse_names[row.result.labels['r_org'][0]]}", text)
        assert "from the cache" not in text
        if fooled:  # does the image still fool once rounded to 8 bits, as its PNG download is?
            rounded = (row.result.x_adv * 255).round() / 255
            still = bool(hc.coarse(rounded).argmax(1) != c2f_labels.r_org)
            assert ("still fools" in text) == still and ("no longer fools" in text) != still

    # The maps drawn are the maps the LRP loss is of (logit-seeded), before and after every attack.
    written = totals(at)
    assert len(written) == 2 + 2 * 3
    rules = study.StudyConfig().lrp_rules()
    before = study.relevance_pair(hc, x, c2f_labels, "coarse", rules)
    after = study.relevance_pair(hc, lrp_row.result.x_adv, c2f_labels, "coarse", rules)
    drawn = [float(m.sum()) for m in (*before, *after)]
    assert written[:4] == pytest.approx(drawn, rel=5e-3)  # three significant digits
    # ... and the loss terms under them, and the loss before -> after the LRP attack (p = 2)
    positive = [number(c.value, r"‖R⁺‖₂ = ([\d.e+-]+)") for c in at.caption if "‖R⁺‖₂" in c.value]
    expected = [lrp_norms(torch.stack(pair), 2.0)[0][:, 0].tolist() for pair in (before, after)]
    assert positive[:4] == pytest.approx(expected[0] + expected[1], rel=5e-3)
    loss = [float(lrp_loss(torch.stack(pair), 2.0)[0]) for pair in (before, after)]
    assert number(lrp_text, r"L_C \(p = 2\): ([\d.e+-]+) →") == pytest.approx(loss[0], rel=5e-3)
    assert number(lrp_text, r"→ ([\d.e+-]+)") == pytest.approx(loss[1], rel=5e-3)
    assert loss[0] == pytest.approx(float(lrp_row.result.history["lrp_loss"][0]), rel=1e-4)  # what the attack lowers
    labels = sorted(d.label for d in at.get("download_button"))
    assert "JSON" in labels and "NPZ" in labels and sum(label.endswith(".png") for label in labels) == 2 + 6 * 3
    files = stored.files[99.5, False, False]  # those of the default display: own scales and amplifications
    with zipfile.ZipFile(io.BytesIO(files["all_pngs.zip"])) as archive:  # every PNG in one download
        assert {name: archive.read(name) for name in archive.namelist()} == {
            name: data for name, data in files.items() if name.endswith(".png")}
    report = json.loads(files["comparison.json"])
    assert [a["perturbation_amplification"] for a in report["attacks"]] == pytest.approx([0.5 / peak for peak in peaks])
    assert [a["column"] for a in report["attacks"]] == names and report["level"] == "coarse"
    assert report["hierarchy"]["name"] == "mnist_c2f" and "torch" in report["versions"]  # what made it
    assert report["labels"]["r_org_name"] in MNIST.coarse_names
    r_org = MNIST.coarse_names.index(report["labels"]["r_org_name"])
    for attack in report["attacks"]:  # the within-r_org name is the r_org member the result's index points at
        within = attack["result"]["labels"]["fine_after"][0]
        assert attack["label_names"]["fine_after_within_r_org"] == MNIST.fine_names[r_org][within]
    assert {"after", "label_names.fine_after_within_r_org", "result.labels", "map_colour_scales"} <= set(
        report["label_notes"])
    org_name, adv_name = (report["labels"][f"r_{w}_name"].replace(" ", "-") for w in ("org", "adv"))
    assert {f"before_lrp_r_org_{org_name}.png", f"lrpc_eps10_lrp_r_adv_{adv_name}.png",
            f"dfc_change_r_org_{org_name}.png"} <= set(report["map_colour_scales"])  # the class in the name
    for name, scale in report["map_colour_scales"].items():  # each map PNG's scale, as the PNG itself says
        assert json.loads(Image.open(io.BytesIO(files[name])).text["xadv:colour_scale"]) == scale
    assert report["map_colour_scales"][f"before_lrp_r_org_{org_name}.png"]["high"] == pytest.approx(limits[0])
    with np.load(io.BytesIO(files["comparison.npz"])) as npz:
        assert {"x", "before_lrp_r_org", "lrpc_eps10_delta", "dfc_x_adv", "pgdc_lrp_r_adv",
                "pgdc_change_r_adv"} <= set(npz.files)

    # A display widget outside the form: new colours, no new attack.
    at.select_slider(key="c2f_scale_percentile").set_value(100.0).run()
    assert not at.exception and attack_calls == ["lrp", "deepfool", "pgd"]
    assert all(cells(row)[2]["zmax"] >= limit for row, limit in zip(grid(at), limits))
    assert cells(grid(at)[0])[2]["zmax"] > limits[0]

    # A new session with the same settings: every attack comes from the persistent cache.
    again = run_attacks(open_page("mnist_cnn"), [10])
    assert attack_calls == ["lrp", "deepfool", "pgd"]
    for first, text in zip(outcomes(at), outcomes(again)):  # the time the attack took when it ran
        assert "from the cache" in text
        assert number(text, r"· ([\d.]+) s") == number(first, r"· ([\d.]+) s")
    for first, second in zip(stored.rows, again.session_state["c2f_results"].rows):
        np.testing.assert_array_equal(first.result.delta.numpy(), second.result.delta.numpy())

    # Another level shows its own results (none yet); this one is kept aside for a switch back.
    again.radio(key="c2f_level").set_value("fine").run()
    assert not again.exception and "c2f_results" not in again.session_state
    assert len(grid(again)) == 1  # the original image alone


def png_visible(png: Image.Image) -> float:
    """The share of a map PNG's pixels (``map_png``: the map under a 16 px title) visibly off white."""
    pixels = np.asarray(png.convert("RGB"))[16:240].astype(int)
    return float((np.abs(pixels - 255).sum(axis=2) > 30).mean())


def picture(trace: dict) -> np.ndarray:
    """The pixels of a picture cell (a PNG in the trace's source)."""
    data = base64.b64decode(trace["source"].split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_the_grid_has_a_row_per_image_and_its_changes_are_after_minus_before(cache_dir):
    at = run_attacks(open_page("mnist_cnn"), [10, 40])
    stored = at.session_state["c2f_results"]
    rows = grid(at)
    assert len(rows) == 1 + len(stored.rows) == 5  # the original image, then LRPC at 10 and 40, DFC, PGDC
    assert [len(titles(row)) for row in rows] == [6, 0, 0, 0, 0]  # the column titles above the first row
    x, grey, *before = cells(rows[0])
    assert before[2:] == [None, None]  # nothing changed on the original
    assert (picture(grey) == 128).all()  # no perturbation: grey
    before = grid_maps(rows[0])
    for row, figure in zip(stored.rows, rows[1:]):
        image, perturbation, *maps = cells(figure)
        assert [c["type"] for c in maps] == ["heatmap"] * 4
        np.testing.assert_array_equal(picture(image)[..., 0], row.adversarial[..., 0])  # the row's own x+η
        org, adv, change_org, change_adv = grid_maps(figure)
        np.testing.assert_array_equal(org, row.maps[0])
        np.testing.assert_array_equal(adv, row.maps[1])
        np.testing.assert_allclose(change_org, org - before[0], atol=1e-6)  # after minus before
        np.testing.assert_allclose(change_adv, adv - before[1], atol=1e-6)

    # The before/after view of one row: one scale for both, the maps switch
    dfc = next(row for row in stored.rows if row.name == "DFC")
    at.selectbox(key="c2f_ba_row").set_value("DFC").run()
    [shown] = grid(at, "c2f_ba")
    after = grid_maps(shown)
    np.testing.assert_array_equal(after[0], dfc.maps[0])
    at.radio(key="c2f_ba_after").set_value(False).run()
    [shown_before] = grid(at, "c2f_ba")
    np.testing.assert_array_equal(grid_maps(shown_before)[1], before[1])
    limit = scale_of([*before, *dfc.maps]).limit
    assert cells(shown)[1]["zmax"] == cells(shown_before)[1]["zmax"] == pytest.approx(limit)


def test_coffee_at_the_defaults_no_map_is_blank_on_the_page_or_in_its_pngs(cache_dir, attack_calls):
    """The default model and photo, every attack at its defaults (LRPC at 10, 20, 40, DFC, PGDC): each row's
    maps on a scale of that row alone, so the weaker rows' maps show their
    structure on the page and in their PNGs; one scale for all rows on request."""
    at = run_attacks(open_page(), None)
    assert attack_calls == ["lrp", "lrp", "lrp", "deepfool", "pgd"]
    rows = grid(at)
    assert len(rows) == 6
    drawn = [c for row in rows + grid(at, "c2f_ba") for c in cells(row) if c is not None and c["type"] == "heatmap"]
    assert len(drawn) == 2 + 4 * 5 + 2  # the grid's maps and changes, the before/after view's two maps
    for trace in drawn:  # the weakest, LRPC's maps of r_org after the attack, have about 5 % of their pixels
        seen = visible_fraction(plotly_array(trace["z"]), trace["zmin"], trace["zmax"])
        assert seen > VISIBLE, trace["hovertemplate"]
    limits = [cells(row)[2]["zmax"] for row in rows]
    assert len(set(limits)) == 6  # each row its own scale
    files = at.session_state["c2f_results"].files[99.5, False, False]
    report = json.loads(files["comparison.json"])
    scales = report["map_colour_scales"]
    assert len(scales) == 2 + 4 * 5
    assert {"before_lrp_r_org_food.png", "lrpc_eps10_lrp_r_adv_dog.png", "pgdc_change_r_org_food.png"} <= set(scales)
    for name, scale in scales.items():
        png = Image.open(io.BytesIO(files[name]))
        assert json.loads(png.text["xadv:colour_scale"]) == scale  # the scale in the file, as in the JSON
        assert scale["scope"] == ("one scale for this row" if "_lrp_" in name else "own scale")
        assert png_visible(png) > VISIBLE, name  # not a plain white square

    at.toggle(key="c2f_one_scale").set_value(True).run()
    maps = [cells(row)[2:] for row in grid(at)]
    assert len({c["zmax"] for row in maps for c in row[:2]}) == 1
    assert len({c["zmax"] for row in maps[1:] for c in row[2:]}) == 1
    assert attack_calls == ["lrp", "lrp", "lrp", "deepfool", "pgd"]
    # ... where the weakest row's changes fade: on the shared scale fewer of their pixels show than on their own
    def seen(c):
        return visible_fraction(plotly_array(c["z"]), c["zmin"], c["zmax"])
    weakest = min(range(1, 6), key=lambda r: cells(rows[r])[4]["zmax"])
    for shared, own in zip(maps[weakest][2:], cells(rows[weakest])[4:]):
        assert shared["zmax"] > own["zmax"] and seen(shared) < seen(own)


def test_mnist_fine_level_keeps_the_coarse_class(cache_dir):
    at = open_page("mnist_cnn")
    at.radio(key="c2f_level").set_value("fine").run()
    assert not at.exception
    text = decisions(at)
    r_org = re.search(r"r_org = \*\*(.+?)\*\*", text).group(1)
    f_org = re.search(r"f_org = \*\*(.+?)\*\*", text).group(1)
    f_adv = re.search(r"f_adv = (.+?) \(", text).group(1)
    members = MNIST.fine_names[MNIST.coarse_names.index(r_org)]
    assert f_org in members and f_adv in members
    heads = titles(grid(at)[0])
    assert f"f<sub>org</sub><br>{f_org}" in heads[2] and f"f<sub>adv</sub><br>{f_adv}" in heads[3]

    run_attacks(at, [10])
    rows = at.session_state["c2f_results"].rows
    assert [row.name for row in rows] == ["LRPF eps=10", "DFF", "PGDF"]
    for row in grid(at):  # each row's two maps on one scale
        assert len({c["zmax"] for c in cells(row)[2:4]}) == 1
    r = MNIST.coarse_names.index(r_org)
    successes = 0
    for text, row in zip(outcomes(at), rows):
        if row.result.success[0]:
            successes += 1
            assert "fine class changed, coarse class kept" in text and f"Coarse: **{r_org}** kept" in text
            assert row.after.coarse.index == r and row.after.fine.name != f_org
            assert int(row.result.labels["coarse_after"][0]) == r
    assert successes >= 1  # DeepFool at least fools the fine level of this image

    at.radio(key="c2f_level").set_value("coarse").run()
    assert "c2f_results" not in at.session_state and not outcomes(at)  # nothing run at the coarse level yet
    at.radio(key="c2f_level").set_value("fine").run()
    assert [row.name for row in at.session_state["c2f_results"].rows] == ["LRPF eps=10", "DFF", "PGDF"]
    assert len(outcomes(at)) == 3  # the fine results are back, without running anything
    at.number_input(key="c2f_image_digit").set_value(1).run()
    assert "c2f_results" not in at.session_state and not at.session_state["c2f_results_other_level"]


def test_a_visit_to_another_page_keeps_the_settings_and_the_results(cache_dir):
    at = open_page("mnist_cnn")
    at.radio(key="c2f_level").set_value("fine").run()
    at.number_input(key="c2f_image_digit").set_value(3).run()
    shown = outcomes(run_attacks(at, [20]))
    assert len(shown) == 3
    at.switch_page("explore/page.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="c2f_model").value == "mnist_cnn" and at.radio(key="c2f_level").value == "fine"
    assert at.number_input(key="c2f_image_digit").value == 3 and at.multiselect(key="c2f_eps").value == [20]
    assert outcomes(at) == shown  # the results are shown again, without running anything


def test_a_run_cut_short_is_reported_once_on_the_next_run(cache_dir, monkeypatch):
    """Streamlit ends a run's script when a setting changes or Stop is pressed; here an attack raises instead."""
    def cut_short(*args, **kwargs):
        raise RuntimeError("cut short")

    def unfinished(at: AppTest) -> list[str]:
        return [w.value for w in at.warning if "did not finish" in w.value]

    at = open_page("mnist_cnn")
    for name in list(study.RUNNERS):
        monkeypatch.setitem(study.RUNNERS, name, cut_short)
    [button] = [b for b in at.button if b.label == "Run attacks"]
    button.click().run()
    assert at.exception and not unfinished(at)
    at.radio(key="c2f_level").set_value("fine").run()
    assert not at.exception, at.exception
    [text] = unfinished(at)
    assert text.startswith("The coarse-level attacks on mnist_test_0 did not finish: ")
    at.run()
    assert not unfinished(at) and "c2f_results" not in at.session_state  # said once; nothing half-made is shown
    [button] = [b for b in at.button if b.label == "Run the table"]
    button.click().run()
    at.run()
    assert [w[:45] for w in unfinished(at)] == ["The table on the first 20 MNIST test digits d"]
    assert "c2f_table" not in at.session_state


def test_reproduce_the_table_on_mnist_digits(cache_dir):
    at = open_page("mnist_cnn")
    assert at.radio(key="c2f_table_images_mnist").value == "mnist"
    at.number_input(key="c2f_table_n").set_value(4)
    at.multiselect(key="c2f_table_eps").set_value([10])
    at.checkbox(key="c2f_table_pgd").uncheck()
    [button] = [b for b in at.button if b.label == "Run the table"]
    button.click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    stored = at.session_state["c2f_table"]
    assert stored.result.image_names == [f"mnist_test_{i}" for i in range(4)]
    beside, intervals, per_image, over_all = at.dataframe  # the last three in an expander
    table = beside.value
    shown = {"LRPC eps=10": "LRPC ε=10", "DFC": "DFC"}  # the page writes ε as the poster does
    for column in stored.result.columns:
        cells = per_image.value[shown[column.name]]
        assert list(cells.index) == stored.result.image_names
        assert [c.startswith("✓") for c in cells] == column.result.success.tolist()
        assert over_all.value.loc["ρ²_adv", shown[column.name]] == study.ROWS[0].format(column.figures["rho_2_all"])
        lo, hi = column.figures["fooling_pct_ci"]
        assert intervals.value.loc["Fooling (%)", shown[column.name]] == f"{lo:.1f}–{hi:.1f}"
    claims = next(m.value for m in at.markdown if m.value.startswith("**The poster's claims"))
    checked = c2f_claims.check(stored.result)
    assert [c.key for c in checked] == ["fooling_rises", "deepfool_8bit"]  # no PGD column: nothing is between
    marks = {True: ":green[", False: ":red[", None: ":grey["}
    for line, claim in zip(claims.splitlines()[1:], checked):
        assert line.startswith(f"- {marks[claim.holds]}") and claim.ours in line
    counts = json.loads(stored.json)["images_per_coarse_class"]
    assert sum(counts.values()) == 4 and stored.coarse_counts == counts
    assert any(c.value.endswith(", ".join(f"{k} {v}" for k, v in counts.items())) for c in at.caption)
    labels = ["ρ²_adv", "ρ¹_adv", "ρ∞_adv", "Fooling (%)"]
    assert list(table.index) == [f"{label} · {who}" for label in labels for who in ("ours", "poster")]
    assert list(table.columns) == list(shown.values())  # the poster's figures beside ours, in our columns
    for i, (row, label) in enumerate(zip(study.ROWS, labels)):
        for name, title in shown.items():
            assert table.loc[f"{label} · ours", title] == row.format(stored.result.table()[row.key][name], "–")
            assert table.loc[f"{label} · poster", title] == row.format(study.POSTER["coarse"].columns[name][i])
    assert all(0 <= float(v) <= 100 for v in table.loc["Fooling (%) · ours"])
    assert table.loc["Fooling (%) · poster", "LRPC ε=10"] == "87.1"  # Table 1 of the poster
    figures = charts(at)  # the same figures drawn: rho_2, then fooling; ours, then poster's
    bars = figures["c2f_table_chart_rho_2"]["data"] + figures["c2f_table_chart_fooling_pct"]["data"]
    assert [(b["name"], b["x"]) for b in bars] == [(who, list(shown.values())) for _ in range(2)
                                                   for who in ("ours", "poster")]
    for bar, (row, values) in zip(bars, [(r, v) for r in ("rho_2", "fooling_pct")
                                         for v in (stored.result.table(), stored.result.poster_table())]):
        assert bar["y"] == pytest.approx([values[row][name] for name in shown])
    assert bars[3]["y"][0] == 87.1
    assert any("What differs" in c.value for c in at.caption)
    assert any(d.label == "JSON" for d in at.get("download_button"))
    report = json.loads(stored.json)  # as c2f-eval writes it, with what made it
    assert report["batch_size"] == study.BATCH_SIZE and len(report["image_digests"]) == 4
    assert report["hierarchy"]["name"] == "mnist_c2f" and "zennit" in report["versions"]
    assert stored.result.config.pgd_alpha_255 == 1.0
    assert stored.outside == {} and not any("in no coarse class" in c.value for c in at.caption)  # all digits
    header = next(m.value for m in at.markdown if m.value.startswith("**Ours**"))
    assert ": the first 4 MNIST test digits, in " in header and "beside the poster's Table 1" in header
    button.click().run()  # the same table again: every attack from the cache
    header = next(m.value for m in at.markdown if m.value.startswith("**Ours**"))
    assert ": the first 4 MNIST test digits, from the cache (the attacks took " in header


def test_the_table_runs_on_uploaded_images_and_names_the_files_left_out(cache_dir, monkeypatch):
    from PIL import Image

    at = open_page("mnist_cnn")
    assert at.radio(key="c2f_table_images_mnist").options == ["MNIST test digits (first N)", "The current image only",
                                                              "The gallery (all 6 photos)",
                                                              "A folder on this server"]  # no uploads yet
    digits = mnist_split("test")[0][5:8]
    files = [(f"digit{i}.png", encode(Image.fromarray((d[0].numpy() * 255).round().astype(np.uint8)), "PNG"),
              "image/png") for i, d in enumerate(digits)]
    files += [("again.png", files[0][1], "image/png"), ("notes.png", b"not an image", "image/png")]
    at.file_uploader(key="c2f_table_upload").set_value(files).run()
    assert not at.exception, at.exception
    left_out = [c.value for c in at.caption if c.value.startswith(":orange[Left out")]
    assert left_out[0] == ":orange[Left out again.png: the same image as digit0.png]"
    assert left_out[1].startswith(":orange[Left out notes.png: ") and len(left_out) == 2
    decoded = []
    monkeypatch.setattr("dashboard.widgets.images.load_image", lambda *a, **k: decoded.append(1) or load_image(*a, **k))
    images._upload.clear()  # not even from the per-file cache, which holds 8
    at.run()  # a rerun does not decode the uploads again
    assert not decoded and len([c for c in at.caption if c.value.startswith(":orange[Left out")]) == 2
    at.radio(key="c2f_table_images_mnist").set_value("uploads")
    at.multiselect(key="c2f_table_eps").set_value([40])
    at.checkbox(key="c2f_table_pgd").uncheck()
    at.checkbox(key="c2f_table_deepfool").uncheck()
    [button] = [b for b in at.button if b.label == "Run the table"]
    button.click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    result = at.session_state["c2f_table"].result
    assert result.image_names == ["digit0.png", "digit1.png", "digit2.png"]
    [column] = result.columns
    expected = study.evaluate(load("mnist_cnn", hierarchy="mnist_c2f").model, digits, result.config,
                              image_names=result.image_names).columns[0]  # the same digits, the same table
    assert torch.equal(column.result.success, expected.result.success) and column.figures == expected.figures
    header = next(m.value for m in at.markdown if m.value.startswith("**Ours**"))
    assert ": your 3 uploaded images, in " in header
    assert [d.label for d in at.get("download_button")][-2:] == ["JSON", "NPZ"]
    with np.load(io.BytesIO(result.npz(at.session_state["c2f_table"].x))) as npz:  # what NPZ serves
        assert npz["image_names"].tolist() == result.image_names and torch.equal(torch.from_numpy(npz["x"]), digits)
        assert np.array_equal(npz["lrpc_eps40_x_adv"], column.result.x_adv.numpy())
        assert npz["lrpc_eps40_success"].tolist() == column.result.success.tolist()
        assert "lrpc_eps40_delta" not in npz  # x_adv - x
    at.switch_page("explore/page.py").run()
    at.switch_page(PAGE).run()  # Streamlit empties an uploader that was not drawn; the page keeps the files
    assert not at.exception, at.exception
    assert any(c.value.startswith("Using 5 files, uploaded earlier") for c in at.caption)
    assert at.radio(key="c2f_table_images_mnist").value == "uploads"


def test_the_table_runs_on_a_folder_on_the_server_and_refuses_a_missing_one(cache_dir, tmp_path):
    from PIL import Image

    at = open_page("mnist_cnn")
    at.radio(key="c2f_table_images_mnist").set_value("folder")
    at.text_input(key="c2f_table_folder").set_value(str(tmp_path / "nowhere"))
    at.multiselect(key="c2f_table_eps").set_value([40])
    at.checkbox(key="c2f_table_pgd").uncheck()
    at.checkbox(key="c2f_table_deepfool").uncheck()
    [button] = [b for b in at.button if b.label == "Run the table"]
    button.click().run()
    assert [w.value for w in at.warning] == [f"{tmp_path / 'nowhere'} is not a folder on this machine."]
    assert "c2f_table" not in at.session_state
    folder = tmp_path / "digits"
    folder.mkdir()
    digits = mnist_split("test")[0][10:12]
    for i, d in enumerate(digits):
        Image.fromarray((d[0].numpy() * 255).round().astype(np.uint8)).save(folder / f"d{i}.png")
    (folder / "readme.txt").write_text("not an image")
    at.text_input(key="c2f_table_folder").set_value(str(folder))
    [button] = [b for b in at.button if b.label == "Run the table"]
    button.click().run()
    assert not at.exception, at.exception
    result = at.session_state["c2f_table"].result
    assert result.image_names == ["d0.png", "d1.png"]  # the text file left out, and said so
    assert any(c.value.startswith(":orange[Left out readme.txt: ") for c in at.caption)
    expected = study.evaluate(load("mnist_cnn", hierarchy="mnist_c2f").model, digits, result.config,
                              image_names=result.image_names).columns[0]  # as c2f-eval --images FOLDER
    assert torch.equal(result.columns[0].result.success, expected.result.success)
    assert result.columns[0].figures == expected.figures
    header = next(m.value for m in at.markdown if m.value.startswith("**Ours**"))
    assert f": 2 images of {folder}, in " in header


def test_pgd_step_is_a_setting_and_an_unreachable_budget_is_pointed_out(cache_dir, attack_calls):
    at = open_page("mnist_cnn")
    at.selectbox(key="c2f_pgd_eps").set_value(40)
    at.number_input(key="c2f_pgd_steps").set_value(10)
    run_attacks(at, [10])
    assert any("can move a pixel by at most 10/255, less than its budget of 40/255" in c.value for c in at.caption)
    at.number_input(key="c2f_pgd_alpha").set_value(4.0)
    at.checkbox(key="c2f_pgd_random").check()
    run_attacks(at, [10])
    assert not any("less than its budget" in c.value for c in at.caption)
    pgd_row = next(row for row in at.session_state["c2f_results"].rows if row.name == "PGDC")
    assert pgd_row.result.params["alpha"] == pytest.approx(4 / 255)
    assert pgd_row.result.params["random_start"] is True
    assert any("up to 10 steps of 4/255 · random start" in m.value for m in at.markdown
               if m.value.startswith("**After PGDC"))


def test_out_of_range_steps_are_named_under_the_form_and_nothing_runs(cache_dir, attack_calls):
    at = open_page("mnist_cnn")
    at.number_input(key="c2f_steps").set_value(0)
    at.number_input(key="c2f_pgd_alpha").set_value(100.0)
    run_attacks(at, [10])
    warnings = [w.value for w in at.warning]
    assert "LRP steps must be from 1 to 200, not 0. The PGD step must be from 0.25 to 64, not 100." in warnings
    assert attack_calls == []  # nothing ran


def test_a_typed_budget_runs_at_that_budget(cache_dir, attack_calls):
    at = open_page("mnist_cnn")
    at.checkbox(key="c2f_deepfool").uncheck()
    at.checkbox(key="c2f_pgd").uncheck()
    run_attacks(at, [10, "12.5"])  # typed: not among the listed budgets
    assert attack_calls == ["lrp", "lrp"]
    rows = {row.name: row.result for row in at.session_state["c2f_results"].rows}
    assert list(rows) == ["LRPC eps=10", "LRPC eps=12.5"]
    assert rows["LRPC eps=12.5"].params["eps"] == pytest.approx(12.5 / 255)
    assert rows["LRPC eps=12.5"].params["step_rule"] == "l2"  # the study's default
    assert float(rows["LRPC eps=12.5"].delta.abs().max()) == pytest.approx(12.5 / 255, abs=1e-6)  # reaches the edge
    assert "After LRPC ε=12.5" in [m.value.split("**")[1] for m in at.markdown if m.value.startswith("**After ")]


def test_a_typed_budget_that_is_no_number_in_range_is_named_and_nothing_runs(cache_dir, attack_calls):
    at = open_page("mnist_cnn")
    run_attacks(at, [10, "300", "ten"])
    warnings = [w.value for w in at.warning]
    assert "An ε must be a number above 0 and at most 255 (0–255 scale), not “300”, “ten”." in warnings
    assert attack_calls == []  # nothing ran


def test_typed_budgets_are_numbers_above_0_and_at_most_255():  # the PGD budget's too (AppTest cannot type one)
    assert [typed_budget(v) for v in (10, "12.5", " 255 ", "1e1", 0.5)] == [10.0, 12.5, 255.0, 10.0, 0.5]
    assert [typed_budget(v) for v in ("0", "-3", "255.5", "nan", "inf", "ten", "", None)] == [None] * 8


def test_download_names_leave_out_the_images_extension():
    from dashboard.widgets.downloads import name_stem

    assert (name_stem("rgba.png"), name_stem("coffee"), name_stem(None)) == ("rgba", "coffee", "upload")


def test_the_magnitude_note_names_each_map_by_attack_and_target(cache_dir):
    at = open_page("mnist_cnn")  # test digit 0: maps after the attacks are far stronger than before
    at.number_input(key="c2f_steps").set_value(15)
    run_attacks(at, [10, 20, 40])
    assert not [c for c in at.caption if "The maps differ in magnitude" in c.value]  # each row on its own scale
    at.toggle(key="c2f_one_scale").set_value(True).run()
    [note] = [c.value for c in at.caption if "The maps differ in magnitude" in c.value]
    names = "|".join(["before"] + [re.escape(row.name) for row in at.session_state["c2f_results"].rows])
    found = re.search(rf"strongest: ({names}), r_(org|adv), weakest: ({names}), r_(org|adv)\)", note)
    assert found and found.group(1, 2) != found.group(3, 4), note


def test_an_all_black_upload_is_refused_with_a_message_and_the_table_follows_the_level(cache_dir, attack_calls):
    from PIL import Image

    at = open_page("mnist_cnn")
    assert at.radio(key="c2f_image_source_digits").value == "MNIST digit"  # the model's own kind of image first
    label = int(mnist_split("test")[1][0])
    assert f"f_org = **{label}**" in decisions(at)  # test digit 0, classified right
    assert any(f"MNIST test image 0: a handwritten {label}," in c.value for c in at.caption)
    at.number_input(key="c2f_image_digit").set_value(3).run()
    assert any("MNIST test image 3: a handwritten 3," in c.value for c in at.caption)  # digits interleave
    assert at.radio(key="c2f_table_level_coarse").value == "coarse"
    at.radio(key="c2f_level").set_value("fine").run()
    assert at.radio(key="c2f_table_level_fine").value == "fine"  # the table's level follows the page's
    at.radio(key="c2f_image_source_digits").set_value("Upload").run()
    black = encode(Image.new("L", (28, 28)), "PNG")
    at.file_uploader(key="c2f_image_upload").set_value(("black.png", black, "image/png")).run()
    assert not at.exception, at.exception
    assert any("all black" in e.value for e in at.error)
    assert not [b for b in at.button if b.label == "Run attacks"] and not attack_calls


def test_uploaded_weights_with_nan_are_refused_and_nothing_is_drawn_with_them(cache_dir):
    import io

    import torch

    from core.models.mnist_cnn import MnistCNN

    broken = {k: v.clone().fill_(float("nan")) for k, v in MnistCNN().state_dict().items()}
    buffer = io.BytesIO()
    torch.save(broken, buffer)
    at = open_page("mnist_cnn")
    at.file_uploader(key="c2f_weights_mnist_cnn").set_value(("nan.pt", buffer.getvalue(), "application/octet-stream"))
    at.run()
    assert not at.exception, at.exception
    assert any("nan.pt holds NaN or infinite weights" in e.value for e in at.main.error)  # where the page would be
    assert not any("nan%" in m.value for m in at.markdown)  # no decisions drawn from NaN outputs


def test_an_lrp_target_picked_on_the_page_aims_the_attack_and_its_maps(cache_dir, attack_calls):
    at = open_page("mnist_cnn")
    runner_up = re.search(r"r_adv = (.+?) \(", decisions(at)).group(1)
    [picker] = [s for s in at.selectbox if s.key.startswith("c2f_target_coarse_")]
    assert picker.index == 0 and picker.options[0] == f"{runner_up}: the runner-up, as in the poster"  # shown, as
    # the default (an option None would be no selection: the browser would show "Choose an option")
    [other] = picker.options[1:]  # mnist_c2f: 3 coarse classes
    chosen = next(n for n in MNIST.coarse_names if other.startswith(n))
    assert chosen != runner_up
    picker.set_value(MNIST.coarse_names.index(chosen)).run()
    assert re.search(rf"r_adv = {chosen} \(\d+\.\d%\) · chosen", decisions(at))
    assert chosen in titles(grid(at)[0])[3]  # the map is the target's
    run_attacks(at, [10])
    lrp_row, df_row, _ = at.session_state["c2f_results"].rows
    target = MNIST.coarse_names.index(chosen)
    assert lrp_row.params["target"] == target and int(lrp_row.result.labels["r_adv"][0]) == target
    assert "target" not in df_row.params  # DeepFool and PGD stay untargeted
    headings = [m.value for m in at.markdown if m.value.startswith("**After ")]
    assert f"aimed at {chosen}" in headings[0] and "aimed at" not in headings[1]
    calls = len(attack_calls)
    at.selectbox(key=picker.key).set_value(-1).run()  # back to the runner-up (option -1): not the aimed results
    assert "c2f_results" not in at.session_state and re.search(rf"r_adv = {runner_up} \(\d+\.\d%\)  ", decisions(at))
    at.selectbox(key=picker.key).set_value(target).run()  # and to the target again: they come back
    assert at.session_state["c2f_results"].rows[0].params["target"] == target and len(attack_calls) == calls


def test_the_lrp_loss_curve_of_each_lrp_row_starts_at_the_loss_before_the_attack(cache_dir):
    at = run_attacks(open_page("mnist_cnn"), [10, 40])
    rows = at.session_state["c2f_results"].rows
    curves = charts(at)["c2f_loss_curves"]["data"]
    assert [c["name"] for c in curves] == ["LRPC ε=10", "LRPC ε=40"]  # DeepFool and PGD have no LRP loss
    before = number(outcomes(at)[0], r"LRP loss L_C \(p = 2\): ([-\d.e+]+) →")  # 3 significant digits
    for curve, row in zip(curves, rows):
        assert curve["y"] == pytest.approx(row.result.history["lrp_loss"].tolist())
        stopped = int(row.result.success[0])  # at its first success: then the returned image's loss closes the curve
        assert len(curve["y"]) == int(row.result.iterations[0]) + stopped  # one point per iterate reached
        assert curve["y"][0] == pytest.approx(before, rel=1e-2)  # iterate 0 is the input
    assert curves[1]["y"][-1] < curves[1]["y"][0]  # the attack lowers its loss


def test_a_run_cut_short_keeps_the_rows_that_finished(cache_dir, monkeypatch):
    """Stop ends the script inside the run; the attacks that had finished stay in the grid, the next run
    says the run was cut short, and the status line (with its Stop button) is gone."""
    at = open_page("mnist_cnn")
    deepfool = study.RUNNERS["deepfool"]

    def cut_short(*args, **kwargs):
        raise RuntimeError("cut short")  # the script ends inside the run, as a Stop ends it

    monkeypatch.setitem(study.RUNNERS, "deepfool", cut_short)  # after the LRPC row, before the PGDC row
    at.multiselect(key="c2f_eps").set_value([10])
    [button] = [b for b in at.button if b.label == "Run attacks"]
    button.click().run()
    assert at.exception
    monkeypatch.setitem(study.RUNNERS, "deepfool", deepfool)
    at.run()
    assert not at.exception, at.exception
    [warning] = [w.value for w in at.warning if "did not finish" in w.value]
    assert "The attacks that had finished are shown" in warning
    assert [row.name for row in at.session_state["c2f_results"].rows] == ["LRPC eps=10"]
    assert len(grid(at)) == 2  # the original image and the LRPC row
    assert not [b for b in at.button if b.label == "Stop"]


def test_the_tables_expected_time_is_measured_on_this_machine(cache_dir):
    """Before any run the page says the time will be measured; after a table on 4 digits it estimates the
    default table (20 digits, 16 not in the cache) from those runs; once that has run, its attacks are in
    the cache and the page says so (no constant estimate)."""
    def expected(at: AppTest) -> str:
        [text] = [c.value for c in at.caption if "this table" in c.value or "is measured" in c.value]
        return text

    def run_table(at: AppTest) -> None:
        [button] = [b for b in at.button if b.label == "Run the table"]
        button.click().run()
        assert not at.exception, at.exception
        at.run()

    at = open_page("mnist_cnn")
    assert "measured on its first run" in expected(at)
    at.number_input(key="c2f_table_n").set_value(4)
    run_table(at)
    assert re.search(r"takes about \d+ s on this machine", expected(at))
    at.number_input(key="c2f_table_n").set_value(20)
    run_table(at)
    assert "every attack of this table is in the cache" in expected(at)
