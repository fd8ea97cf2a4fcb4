"""The start page driven through Streamlit's AppTest: a link per built study, and the classroom demo (coffee
on EfficientNet-Lite0, LRPC at ε = 10 beside DeepFool and PGD), run once and then read from the cache."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.studies.c2f_view import DEMO_CONFIG
from figures import plotly_array, visible_fraction
from test_app_c2f import VISIBLE, cells, grid, plain

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
DEMO_BUTTON = "Run the classroom demo"


def open_start() -> AppTest:
    """A new browser session on the start page."""
    at = AppTest.from_file(str(APP), default_timeout=600)
    at.run()  # the default page first: switch_page needs one run
    at.switch_page("start/page.py")
    at.run()
    assert not at.exception, at.exception
    return at


def run_demo(at: AppTest) -> AppTest:
    [button] = [b for b in at.button if b.label == DEMO_BUTTON]
    button.click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def test_the_start_page_links_every_built_study_and_runs_nothing_by_itself(cache_dir, attack_calls):
    at = open_start()
    links = {link.proto.label: link.proto.page for link in at.get("page_link")}
    studies = {"Explore": "explore", "Coarse-to-fine attacks": "c2f", "Attributes": "attributes", "eXIAA": "exiaa",
               "GSE and sparse attacks": "gse", "Counterfactuals": "counterfactuals"}
    assert set(links) == {f"Open {title}" for title in studies}  # each to its page's URL path
    assert all(links[f"Open {title}"] in {path, ""} for title, path in studies.items())  # "": the default, at /
    assert not [m.value for m in at.markdown if "coming" in m.value]  # every study is built
    assert len(at.markdown[0].value.split(". ")) == 3  # what the tool is, in three sentences
    assert not attack_calls and "start_demo" not in at.session_state  # nothing before the button


def test_the_demo_runs_its_attacks_once_and_then_reads_them_from_the_cache(cache_dir, attack_calls):
    at = run_demo(open_start())
    assert attack_calls == ["lrp", "deepfool", "pgd"]  # LRPC at 10/255, DFC, PGDC: each once
    demo = at.session_state["start_demo"]
    assert [row.name for row in demo.comparison.rows] == ["LRPC eps=10", "DFC", "PGDC"]
    assert demo.comparison.config == DEMO_CONFIG and demo.labels.r_org.name == "food"
    steps = [plain(m.value) for m in at.markdown if m.value.startswith("##### ")]
    assert steps == ["##### 1. What the model sees and decides", "##### 2. Where its evidence for food lies",
                     "##### 3. What LRPC changed", "##### 4. How DeepFool and PGD differ"]
    looks = [m.value for m in at.markdown if m.value.startswith(":material/visibility:")]
    assert len(looks) == 4 and "decides food (" in looks[0]  # a sentence under each step
    lrp = demo.comparison.rows[0]
    assert lrp.fooled and f"the decision went from food to {lrp.after.coarse.name}" in looks[2]
    assert [len(grid(at, f"start_demo_grid{i}")) for i in (2, 3, 4)] == [1, 1, 2]  # the grid's rows, step by step
    for i in (2, 3, 4):
        for row in grid(at, f"start_demo_grid{i}"):
            for trace in cells(row):
                if trace is not None and trace["type"] == "heatmap":  # each on a scale where it shows
                    assert visible_fraction(plotly_array(trace["z"]), trace["zmin"], trace["zmax"]) > VISIBLE

    run_demo(at)  # a second click: everything from the cache
    assert attack_calls == ["lrp", "deepfool", "pgd"]
    assert all(row.cached for row in at.session_state["start_demo"].comparison.rows)
    at.switch_page("c2f/page.py").run()
    at.switch_page("start/page.py").run()  # a revisit shows the demo without a click
    assert len(grid(at, "start_demo_grid4")) == 2 and attack_calls == ["lrp", "deepfool", "pgd"]
    again = run_demo(open_start())  # another browser session
    assert attack_calls == ["lrp", "deepfool", "pgd"]
    assert all(row.cached for row in again.session_state["start_demo"].comparison.rows)
