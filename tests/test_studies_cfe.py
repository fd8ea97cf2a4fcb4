"""The S-CFE study: Table 3's figures as defined, from the cache the second time, and the command."""
import json

import pytest
from sklearn.neighbors import LocalOutlierFactor

from core.__main__ import main
from core.cache import ResultCache
from core.errors import InputError
from core.studies.cfe import StudyConfig, evaluate, robustness, task

FAST = dict(dataset="wine", n=8, methods=("scfe-knn", "cem"), steps=30, search_steps=4)


@pytest.fixture(scope="module")
def wine_task():
    return task("wine", 8, device="cpu")


def test_table_figures_as_defined_and_cached(wine_task, tmp_path):
    config = StudyConfig(**FAST)
    cache = ResultCache(tmp_path)
    result = evaluate(config, t=wine_task, cache=cache)
    space = wine_task.actionable
    for column in result.columns:
        r = column.result
        ok = r.success.bool()
        assert column.figures["validity"][0] == pytest.approx(100 * ok.double().mean().item())
        changed = (r.x_adv != wine_task.x).sum(1)[ok].double()
        assert column.figures["l0"][0] == pytest.approx(changed.mean().item())
        dist = (space.to_z(r.x_adv) - space.to_z(wine_task.x)).norm(dim=1)[ok].double()
        assert column.figures["l2"] == pytest.approx((dist.mean().item(), dist.std(unbiased=False).item()))
        t = r.labels["target"][ok]
        lof = []
        for c in t.unique().tolist():
            rows = wine_task.z_train[wine_task.y_train == c].double().numpy()
            fitted = LocalOutlierFactor(n_neighbors=20, novelty=True).fit(rows)
            lof += (-fitted.score_samples(space.to_z(r.x_adv)[ok][t == c].double().numpy())).tolist()
        assert column.figures["lof"][0] == pytest.approx(sum(lof) / len(lof))
    assert result.columns[0].figures["l0"][0] <= 2  # S-CFE's m = 2 on Wine
    again = evaluate(config, t=wine_task, cache=cache)
    assert all(c.result.from_cache for c in again.columns)
    assert again.table() == result.table()
    assert "Talk" in result.format() and "S-CFE_kNN" in result.format()


def test_robustness_pairs_grow_with_the_noise(wine_task):
    pairs = robustness(StudyConfig(**FAST | {"methods": ("scfe-knn",)}), sigmas=(0.01, 0.5), t=wine_task)
    small, large = pairs["S-CFE_kNN"]
    assert small["input_l2"] < large["input_l2"] and small["rows"] > 0


def test_command_prints_and_writes_table_3(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["cfe-eval", "--dataset", "wine", "--n", "4", "--methods", "cem", "--steps", "20",
                 "--search-steps", "3", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["table"]["validity"]["CEM"][0] == 100 * sum(report["columns"][0]["attack"]["success"]) / 4
    assert "Validity (std)" in capsys.readouterr().out


def test_bad_settings_are_refused_before_any_work():
    with pytest.raises(InputError, match="at most"):
        task("wine", 101, device="cpu")
    with pytest.raises(InputError, match="m must"):
        StudyConfig(m=0)
    with pytest.raises(InputError, match="Methods"):
        StudyConfig(methods=("dice",))
