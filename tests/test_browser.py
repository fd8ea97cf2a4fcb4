"""The dashboard in a real browser: a live ``streamlit run`` server driven by headless Chromium.

Uses the system Chromium (Debian: ``apt-get install chromium``); Playwright never downloads one.
``make test`` installs it (``scripts/system_deps.sh``); without it the test fails and says so.
Screenshots go to ``$XADV_ARTIFACTS`` (or the test's temporary folder).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT_S = 90
EXPLAIN_TIMEOUT_MS = 180_000


def _require_browser() -> None:
    if not CHROMIUM.is_file():
        pytest.fail("Chromium not installed: apt-get install chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail("Playwright not installed: pip install playwright (no browser download needed)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"streamlit did not become healthy in {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def server(tmp_path):
    """A dashboard server on a free localhost port with its own result cache; always terminated."""
    _require_browser()
    port = _free_port()
    env = dict(os.environ, XADV_CACHE_DIR=str(tmp_path / "cache"))
    log = tmp_path / "streamlit.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
             "--server.headless", "true", "--server.address", "127.0.0.1"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture
def artifacts(tmp_path) -> Path:
    folder = Path(os.environ.get("XADV_ARTIFACTS") or tmp_path / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def new_page(server):
    """Opens the app in headless Chromium (Debian's; Playwright never downloads a browser):
    ``new_page(height, shown="Explore", width=1600)`` gives a page of that size showing the page named
    ``shown`` in the sidebar (chosen there, as a user does). A tall viewport, because Streamlit scrolls
    inside its own container, which full-page screenshots miss."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)

        def open_app(height: int, shown: str = "Explore", width: int = 1600):
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(server, wait_until="domcontentloaded")
            page.get_by_role("link", name=shown, exact=True).click()
            return page

        try:
            yield open_app
        finally:
            browser.close()


def test_explore_lrp_heatmap_and_bad_upload(new_page, artifacts):
    from playwright.sync_api import expect

    page = new_page(1800)
    explain = page.get_by_role("button", name="Explain")
    explain.wait_for(timeout=EXPLAIN_TIMEOUT_MS)  # the model has loaded and the page rendered
    expect(page.get_by_role("combobox", name="Example photo")).to_have_value("chelsea: a tabby cat")
    expect(page.locator(".st-key-explore_top5")).to_contain_text("cat")

    explain.click()
    heatmap = page.locator(".st-key-explore_map_0 .js-plotly-plot")
    heatmap.wait_for(timeout=EXPLAIN_TIMEOUT_MS)
    expect(heatmap.locator(".hm image")).to_have_count(1)  # plotly drew the heatmap raster
    trace = heatmap.evaluate("el => ({type: el.data[0].type, zmid: el.data[0].zmid, "
                             "zmin: el.data[0].zmin, zmax: el.data[0].zmax, title: el.layout.title.text})")
    assert trace["type"] == "heatmap" and trace["zmid"] == 0 and "LRP" in trace["title"]
    assert trace["zmax"] > 0 and trace["zmin"] == pytest.approx(-trace["zmax"])
    box = heatmap.bounding_box()
    assert box and 150 < box["width"] and 150 < box["height"] < 600  # neither tiny nor page-filling
    expect(page.get_by_text("composite=epsilon_plus_flat")).to_be_visible()
    page.wait_for_timeout(1000)  # let plotly finish its transitions before the picture
    shot = artifacts / "explore_lrp.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")

    page.locator(".st-key-explore_image_source").get_by_text("Upload").click()
    upload = page.locator(".st-key-explore_image_upload input[type=file]")
    upload.wait_for(state="attached", timeout=30_000)
    upload.set_input_files(files=[{"name": "notes.jpg", "mimeType": "image/jpeg",
                                   "buffer": b"this is a text file, not a photo\n"}])
    expect(page.get_by_text("This is not an image Pillow can read")).to_be_visible(timeout=30_000)
    expect(page.locator(".st-key-explore_model")).to_be_visible()  # the page is still alive
    expect(page.locator("[data-testid=stException]")).to_have_count(0)
    shot = artifacts / "explore_bad_upload.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")


def grid_in_view(page, width: int = 1400, height: int = 900) -> dict:
    """At ``width`` x ``height``, the C2F page's grid scrolled to its top: its box, which must lie in the window."""
    page.set_viewport_size({"width": width, "height": height})
    grid = page.locator(".st-key-c2f_grid")
    grid.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(1000)  # Streamlit re-lays out the page for the new size
    grid.evaluate("el => el.scrollIntoView({block: 'start'})")
    box = grid.bounding_box()
    assert box and box["y"] >= -1 and box["y"] + box["height"] <= height, box  # every row inside the window
    return box


def test_coarse_to_fine_attacks_on_mnist(new_page, artifacts):
    from playwright.sync_api import expect

    page = new_page(3200)
    page.get_by_role("link", name="Coarse-to-fine attacks").click()  # via st.navigation, as a user does
    page.get_by_role("button", name="Run attacks").wait_for(timeout=EXPLAIN_TIMEOUT_MS)
    page.locator(".st-key-c2f_model").click()
    page.get_by_role("option", name="mnist_cnn", exact=True).click()
    expect(page.get_by_role("combobox", name="Coarse-to-fine hierarchy")).to_have_value(
        "mnist_c2f", timeout=EXPLAIN_TIMEOUT_MS)
    before = page.locator(".st-key-c2f_grid_row0 .js-plotly-plot")
    # while the page reruns for the new model, the previous model's map may still be shown beside the new one
    expect(before).to_have_count(1, timeout=EXPLAIN_TIMEOUT_MS)
    before.wait_for(timeout=EXPLAIN_TIMEOUT_MS)
    expect(page.get_by_text("Original x")).to_be_visible()

    page.get_by_role("button", name="Run attacks").click()  # the defaults: LRPC at 10, 20, 40, DFC, PGDC
    rows = [page.locator(f".st-key-c2f_grid_row{i} .js-plotly-plot") for i in range(6)]
    for row in rows:
        row.wait_for(timeout=EXPLAIN_TIMEOUT_MS)
    for i in range(6):  # while a rerun swaps a chart, the old (stale) copy can sit beside the new one for a moment
        expect(page.locator(f".st-key-c2f_grid_row{i}")).to_have_count(1, timeout=30_000)
    expect(rows[1].locator(".hm image")).to_have_count(4)  # plotly drew the two maps and two changes of a row
    scales = [row.evaluate("el => el.data.filter(t => t.type === 'heatmap').map(t => t.zmax)") for row in rows]
    assert [len(s) for s in scales] == [2, 4, 4, 4, 4, 4]
    assert all(s[0] == s[1] > 0 for s in scales) and len({s[0] for s in scales}) == 6  # each row its own scale
    expect(page.locator(".st-key-c2f_grid").get_by_text("LRPC ε=10", exact=True)).to_be_visible()
    expect(page.locator("[data-testid=stException]")).to_have_count(0)
    page.wait_for_timeout(1000)
    shot = artifacts / "c2f_mnist.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    box = grid_in_view(page)  # the six rows fit a 1400 x 900 window
    shot = artifacts / "c2f_mnist_grid_1400x900.png"
    page.screenshot(path=str(shot))
    print(f"screenshot: {shot}; the grid is {box['height']:.0f} px tall")


def test_moving_the_colour_scale_during_attacks_does_not_cut_them_short(new_page, artifacts):
    """A display setting, moved while the attacks run (three LRPC budgets, DFC and PGDC on
    EfficientNet-Lite0, many seconds on a CPU), waits for them and then redraws: no "did not finish".
    The grid of the five rows and the original then fits a 1400 x 900 window."""
    from playwright.sync_api import expect

    page = new_page(1600, width=1400)
    page.get_by_role("link", name="Coarse-to-fine attacks").click()
    run = page.get_by_role("button", name="Run attacks")
    run.wait_for(timeout=EXPLAIN_TIMEOUT_MS)
    page.locator(".st-key-c2f_grid_row0 .js-plotly-plot").wait_for(timeout=EXPLAIN_TIMEOUT_MS)
    run.click()
    page.wait_for_timeout(2000)
    assert page.locator(".st-key-c2f_grid_row1").count() == 0, "the attacks ended before the slider moved"
    slider = page.locator(".st-key-c2f_scale_percentile input[type=range]")
    slider.focus()
    slider.press("ArrowRight")  # 99.5 -> 99.9
    page.locator(".st-key-c2f_grid_row5 .js-plotly-plot").wait_for(timeout=EXPLAIN_TIMEOUT_MS)  # PGDC's row
    expect(page.get_by_text("the 99.9th percentile", exact=False)).to_be_visible(timeout=60_000)
    expect(page.get_by_text("did not finish", exact=False)).to_have_count(0)
    expect(page.locator("[data-testid=stException]")).to_have_count(0)
    box = grid_in_view(page)
    shot = artifacts / "c2f_coffee_grid_1400x900.png"
    page.screenshot(path=str(shot))
    print(f"screenshot: {shot}; the grid is {box['height']:.0f} px tall")


def test_an_upload_survives_a_page_change_and_a_removed_one_is_forgotten(new_page):
    """Streamlit empties an uploader that was not drawn on the last run; the page keeps the file itself."""
    from PIL import Image
    from playwright.sync_api import expect

    from tests.image_bytes import encode

    photo = encode(Image.new("RGB", (400, 300), (200, 40, 40)), "PNG")
    page = new_page(1600)
    page.get_by_role("button", name="Explain").wait_for(timeout=EXPLAIN_TIMEOUT_MS)
    page.locator(".st-key-explore_image_source").get_by_text("Upload").click()
    uploader = page.locator(".st-key-explore_image_upload")
    uploader.locator("input[type=file]").set_input_files(
        files=[{"name": "mine.png", "mimeType": "image/png", "buffer": photo}])
    used = page.get_by_text("Original 400×300 px", exact=False)
    expect(used).to_be_visible(timeout=EXPLAIN_TIMEOUT_MS)

    page.get_by_role("link", name="Coarse-to-fine attacks").click()
    page.get_by_role("button", name="Run attacks").wait_for(timeout=EXPLAIN_TIMEOUT_MS)
    page.get_by_role("link", name="Explore").click()
    expect(page.get_by_text("Using mine.png, uploaded earlier", exact=False)).to_be_visible(
        timeout=EXPLAIN_TIMEOUT_MS)
    expect(used).to_be_visible()
    page.locator(".st-key-explore_image_source").get_by_text("Gallery").click()
    expect(used).to_have_count(0, timeout=60_000)
    page.locator(".st-key-explore_image_source").get_by_text("Upload").click()
    expect(used).to_be_visible(timeout=60_000)

    uploader.locator("input[type=file]").set_input_files(
        files=[{"name": "mine.png", "mimeType": "image/png", "buffer": photo}])
    uploader.locator("[data-testid=stFileChipDeleteBtn] button").click()
    expect(page.get_by_text("Choose an image file", exact=False)).to_be_visible(timeout=60_000)
    expect(used).to_have_count(0)
    expect(page.locator("[data-testid=stException]")).to_have_count(0)


def test_weights_above_the_image_limit_reach_the_model_and_a_large_image_is_refused(new_page, tmp_path):
    """The server takes any upload up to the weights box's limit (config.toml's maxUploadSize; Streamlit's
    server refuses more whatever an uploader says): ResNet-18's 45 MB state dict loads. An image uploader
    still refuses a file above its 25 MB."""
    import torch
    import torchvision
    from playwright.sync_api import expect

    weights = tmp_path / "resnet18.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18().state_dict(), weights)
    assert weights.stat().st_size > 40e6
    page = new_page(1600)
    page.get_by_role("button", name="Explain").wait_for(timeout=EXPLAIN_TIMEOUT_MS)
    page.locator(".st-key-explore_model").click()
    page.get_by_role("option").filter(has_text="resnet18").click()
    missing = page.get_by_text("No offline weights for resnet18", exact=False)
    expect(missing).to_be_visible(timeout=EXPLAIN_TIMEOUT_MS)
    page.locator(".st-key-explore_weights_resnet18 input[type=file]").set_input_files(str(weights))
    expect(missing).to_have_count(0, timeout=EXPLAIN_TIMEOUT_MS)
    expect(page.get_by_role("button", name="Explain")).to_be_visible(timeout=EXPLAIN_TIMEOUT_MS)
    expect(page.locator(".st-key-explore_top5")).to_be_visible()  # predictions of the uploaded weights
    expect(page.locator(".st-key-explore_weights_resnet18")).not_to_contain_text("Error")

    page.locator(".st-key-explore_image_source").get_by_text("Upload").click()
    page.locator(".st-key-explore_image_upload input[type=file]").set_input_files(
        files=[{"name": "huge.png", "mimeType": "image/png", "buffer": bytes(26 * 1024 * 1024)}])
    expect(page.locator(".st-key-explore_image_upload")).to_contain_text("File must be 25.0MB or smaller",
                                                                         timeout=30_000)
    expect(page.locator("[data-testid=stException]")).to_have_count(0)


def test_stop_ends_a_run_and_keeps_the_rows_that_finished(new_page, artifacts):
    """While the attacks run, a status line at the top of the page says what runs, with a Stop button;
    pressed after LRPC at eps 10 has finished, it ends the run, and the grid keeps that row."""
    from playwright.sync_api import expect

    page = new_page(1600, shown="Coarse-to-fine attacks", width=1400)
    run = page.get_by_role("button", name="Run attacks")
    run.wait_for(timeout=EXPLAIN_TIMEOUT_MS)
    page.locator(".st-key-c2f_grid_row0 .js-plotly-plot").wait_for(timeout=EXPLAIN_TIMEOUT_MS)
    run.click()
    status = page.locator(".st-key-c2f_status")
    expect(status).to_contain_text("The coarse-level attacks on coffee", timeout=60_000)
    expect(status).to_contain_text("elapsed")
    expect(status).to_contain_text("LRPC eps=20", timeout=EXPLAIN_TIMEOUT_MS)  # eps 10 has finished
    page.screenshot(path=str(artifacts / "c2f_running_1400.png"))
    status.get_by_role("button", name="Stop").click()
    expect(page.get_by_text("you pressed Stop", exact=False)).to_be_visible(timeout=60_000)
    expect(page.locator(".st-key-c2f_status")).to_have_count(0)
    expect(page.locator(".st-key-c2f_grid_row1 .js-plotly-plot")).to_have_count(1)  # LRPC eps=10, kept
    expect(page.locator(".st-key-c2f_grid_row3")).to_have_count(0)
    page.screenshot(path=str(artifacts / "c2f_stopped_1400.png"))


def test_on_a_phone_the_sidebar_closes_after_choosing_a_page_and_toolbars_stay_hidden(server):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
            page.goto(server, wait_until="domcontentloaded")
            page.locator('[data-testid="stExpandSidebarButton"]').click()
            sidebar = page.locator('[data-testid="stSidebar"]')
            expect(sidebar).to_be_in_viewport()
            page.get_by_role("link", name="Explore", exact=True).click()
            page.get_by_role("button", name="Explain").wait_for(timeout=EXPLAIN_TIMEOUT_MS)
            expect(sidebar).not_to_be_in_viewport(timeout=10_000)  # closed: the page is readable
            toolbar = page.locator(".st-key-explore_input .modebar-container").first
            toolbar.wait_for(state="attached", timeout=EXPLAIN_TIMEOUT_MS)
            assert toolbar.evaluate("e => getComputedStyle(e).display") == "none"  # not over the chart's title
        finally:
            browser.close()
