"""The GSE study (core.studies.gse) and gse-eval: figures equal the metric functions on the results, targeted
mode averages over its offsets, misclassified images are left out, the cache serves a rerun, refusals."""
import json

import pytest
import torch

from core.cache import ResultCache
from core.errors import InputError
from core.metrics import sparsity as S
from core.studies.gse import StudyConfig, evaluate, offsets

FAST = dict(gse_search_steps=2, strattack_steps=10, strattack_search_steps=1, fwnucl_steps=10,
            fwnucl_step_rule="open")


@pytest.fixture(scope="module")
def digits():
    from core.data import load_digits
    from core.data.mnist import digit_label
    from core.models import load

    model = load("mnist_cnn", device="cpu").model
    images = load_digits(8)
    x = torch.cat([im.tensor for im in images])
    return model, x, torch.tensor([digit_label(i) for i in range(8)]), images


def test_figures_are_the_metrics_of_the_results(digits, cache_dir):
    model, x, y, images = digits
    wrong = y.clone()
    wrong[3] = (y[3] + 1) % 10  # a label the model does not give: that image is left out
    config = StudyConfig(**FAST)
    names = [im.source_name for im in images]
    result = evaluate(model, x, wrong, config, image_names=names, image_digests=[im.digest for im in images],
                      model_id="mnist_cnn", cache=ResultCache(), batch_size=4)
    assert result.skipped == (names[3],) and len(result.image_names) == 7
    kept = torch.ones(8, dtype=torch.bool)
    kept[3] = False
    for column in result.columns:
        (run,) = column.results
        assert run.x_adv.shape[0] == 7 and torch.equal(run.x_adv - x[kept], run.delta)
        ok = run.success
        f = column.figures
        assert f["asr"] == pytest.approx(100 * ok.float().mean().item())
        if ok.any():
            assert f["acp"] == pytest.approx(S.changed_pixels(run.delta)[ok].double().mean().item())
            assert f["d20"] == pytest.approx(S.d20(run.delta)[ok].double().mean().item())
            assert f["anc"] == pytest.approx(S.clusters(run.delta)[ok].double().mean().item())
            assert f["l2"] == pytest.approx(S.l2(run.delta)[ok].double().mean().item(), rel=1e-6)
    gse = result.columns[0]
    assert gse.name == "GSE" and gse.figures["asr"] == 100.0
    text = result.format()
    assert "GSE" in text and "Talk, Table 1 (CIFAR-10 ResNet20" in text and "41.7" in text
    again = evaluate(model, x, wrong, config, image_names=names, image_digests=[im.digest for im in images],
                     model_id="mnist_cnn", cache=ResultCache(), batch_size=4)
    assert all(r.from_cache for c in again.columns for r in c.results)
    assert again.columns[0].figures["acp"] == gse.figures["acp"]
    json.dumps(result.to_dict())


def test_targeted_mode_runs_each_offset_and_reaches_the_targets(digits):
    model, x, y, images = digits
    config = StudyConfig(attacks=("gse",), mode="targeted", targets=2, gse_search_steps=2)
    result = evaluate(model, x[:4], y[:4], config, image_names=[im.source_name for im in images[:4]])
    (column,) = result.columns
    assert len(column.results) == 2
    for offset, run in zip((1, 2), column.results):
        aimed = (y[:4] + offset) % 10
        assert torch.equal(model(run.x_adv).argmax(1) == aimed, run.success)
    pairs = torch.cat([r.success for r in column.results])
    assert column.figures["n"] == 8 and column.figures["asr"] == pytest.approx(100 * pairs.float().mean().item())
    assert "Table 2" in result.format()


def test_offsets_and_refusals():
    assert offsets(10, 3, "targeted") == (1, 2, 3) and offsets(10, 20, "targeted") == tuple(range(1, 10))
    assert offsets(1000, 2, "targeted") == (857, 477) and offsets(1000, 5, "untargeted") == (0,)
    with pytest.raises(InputError, match="attack"):
        StudyConfig(attacks=("pgd",))
    with pytest.raises(InputError, match="mode"):
        StudyConfig(mode="both")
    with pytest.raises(InputError, match="targets"):
        StudyConfig(targets=0)


def test_gse_eval_prints_the_talks_layout_and_writes_json(tmp_path, cache_dir, capsys):
    from core.__main__ import main

    out = tmp_path / "gse.json"
    code = main(["gse-eval", "--model", "mnist_cnn", "--images", "mnist:4", "--attacks", "gse", "fwnucl",
                 "--gse-search-steps", "2", "--fwnucl-steps", "10", "--fwnucl-step-rule", "open", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines() if line.startswith("Attack"))
    assert header.split() == ["Attack", "ASR", "ACP", "ANC", "l2", "d_2,0", "time/img", "(s)"]
    report = json.loads(out.read_text())
    assert [a["name"] for a in report["attacks"]] == ["GSE", "FWnucl"] and len(report["images"]) == 4
    assert report["attacks"][0]["figures"]["asr"] == 100.0
    with pytest.raises(SystemExit):
        main(["gse-eval", "--model", "mnist_cnn", "--images", "mnist:4", "--mode", "sideways"])
