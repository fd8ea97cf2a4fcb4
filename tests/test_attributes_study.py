"""The attributes study: its tables are the figures' functions on its predictions, attacks hold eps and are
cached, Figures 5 / 7 by hand, and attributes-eval on the digits and on an AwA2-layout dataset."""
import json

import pytest
import torch

import core.studies.attributes as study
from core.__main__ import main
from core.attributes import figures
from core.cache import ResultCache
from core.errors import InputError
from core.models import load
from tests.test_attributes_datasets import awa2_fixture


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    model = load("mnist_cnn", device="cpu")
    cache = ResultCache(tmp_path_factory.mktemp("cache"))
    config = study.StudyConfig(eps=(0.06, 0.3), n=30, sje_epochs=20, batch_size=16)
    subject = study.Subject("standard", model.model, model.info.model_id)
    data = study.digit_data(config.n)
    return study.evaluate(subject, data, config, robust=subject, cache=cache), subject, data, config, cache


def test_the_tables_are_the_figures_on_the_predictions(digits_run):
    result, subject, data, config, _ = digits_run
    with torch.no_grad():
        clean = subject.model(data.test_x).argmax(1)
    accuracy = result.accuracy()
    assert accuracy["general_standard"]["clean"] == pytest.approx(100 * float((clean == data.test_y).float().mean()))
    assert accuracy["attribute_standard"]["clean"] > 80  # the attribute classifier on the digits
    for eps in config.eps:
        delta = result.standard.x_adv[eps] - data.test_x
        assert float(delta.abs().max()) <= eps + 1e-6
    strong = accuracy["general_standard"]["eps=0.3"]
    assert strong < accuracy["general_standard"]["clean"] - 30  # the attack bites at eps 0.3
    run = result.standard
    expected = figures.robust_ratio(run.clean.general == data.test_y, run.adversarial[0.3].general == data.test_y,
                                    run.adversarial[0.3].general == data.test_y)
    assert result.ratios()["general"]["eps=0.3"] == pytest.approx(expected) == pytest.approx(1.0)  # same model twice
    five, seven = result.distances()
    turned = int(((run.clean.general == data.test_y) & (run.adversarial[0.3].general != data.test_y)).sum())
    assert five["images"]["eps=0.3"] == turned > 0 and seven["images"]["eps=0.3"] == 0  # nothing recovered
    assert json.loads(json.dumps(result.to_dict()))["figure5"]["images"]["eps=0.3"] == turned
    assert "Figure 4" in result.format() and "paper, AwA2" in result.format()
    import io

    import numpy as np

    arrays = np.load(io.BytesIO(result.npz(data.test_x)))
    assert np.array_equal(arrays["standard_eps0p3_x_adv"], run.x_adv[0.3].numpy())
    assert np.array_equal(arrays["robust_clean_general"], result.robust.clean.general.numpy())
    g, right = run.grounded[0.3], run.clean.general == data.test_y
    fooled = right & (run.adversarial[0.3].general != data.test_y)
    assert g.clean.shape == g.adversarial.shape == (30, config.grounding_top)
    grounding = result.grounding()
    assert grounding["clean_standard"]["eps=0.3"] == pytest.approx(100 * float(g.clean[right].float().mean()))
    assert grounding["fooled_standard"]["eps=0.3"] == pytest.approx(100 * float(g.adversarial[fooled].float().mean()))


def test_a_rerun_reads_the_attacks_and_sje_from_the_cache(digits_run, monkeypatch):
    result, subject, data, config, cache = digits_run
    monkeypatch.setattr(study, "ifgsm", lambda *a, **k: pytest.fail("the attack ran again"))
    monkeypatch.setattr(study, "fit_sje", lambda *a, **k: pytest.fail("SJE was fitted again"))
    again = study.evaluate(subject, data, config, cache=cache)
    assert again.accuracy()["general_standard"] == result.accuracy()["general_standard"]


def test_figure5_and_figure7_by_hand():
    phi = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    y = torch.tensor([0, 0, 1])
    second = torch.tensor([1, 0, 0])
    clean = study.Predictions(torch.tensor([0, 1, 1]), y, torch.tensor([[0.0, 0.0], [1.0, 1.0], [3.0, 4.0]]), second)
    adv = study.Predictions(torch.tensor([1, 1, 1]), y, torch.tensor([[3.0, 0.0], [0.0, 0.0], [3.0, 4.0]]), second)
    f = study.turned_distances(clean, adv, y, phi, top=1.0)  # image 0 only: right clean, wrong attacked
    assert f["d1"].tolist() == [3.0] and f["d2"].tolist() == [5.0]
    assert f["to_wrong_clean"].tolist() == [5.0] and f["to_wrong_adv"].tolist() == [4.0]  # moved toward y
    assert f["to_wrong_clean_all"].tolist() == [5.0] and f["to_wrong_adv_all"].tolist() == [4.0]
    narrow = study.turned_distances(clean, adv, y, phi, top=0.5)  # eq. 7 and eq. 8 both pick attribute 0
    assert narrow["d1"].tolist() == narrow["d2"].tolist() == [3.0] and narrow["to_wrong_adv"].tolist() == [0.0]
    robust = study.Predictions(torch.tensor([0, 0, 0]), y, torch.tensor([[0.0, 1.0], [0.0, 0.0], [0.0, 0.0]]), second)
    s = study.robust_distances(adv, robust, y, phi, top=1.0)  # images 0 and 1: standard wrong, robust right
    assert s["d1"].tolist() == [pytest.approx(10 ** 0.5), 0.0] and s["d2"].tolist() == [5.0, 5.0]
    assert s["robust_to_true"].tolist() == [1.0, 0.0]


def test_bad_settings_are_refused():
    for bad in ({"eps": ()}, {"eps": (0.0,)}, {"n": 0}, {"top": 1.5}, {"matrix": "ternary"}, {"rule": "knn"}):
        with pytest.raises(InputError):
            study.StudyConfig(**bad)


def test_attributes_eval_on_an_awa2_layout_dataset(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XADV_CACHE_DIR", str(tmp_path / "cache"))
    root = awa2_fixture(tmp_path / "awa2")
    out = tmp_path / "out.json"
    code = main(["attributes-eval", "--dataset", "awa2", "--root", str(root), "--eps", "0.06", "--n", "6",
                 "--sje-epochs", "30", "--out", str(out), "--npz", str(tmp_path / "out.npz")])
    assert code == 0
    import numpy as np

    assert np.load(tmp_path / "out.npz")["standard_eps0p06_x_adv"].shape == (3, 1, 28, 28)
    report = json.loads(out.read_text())
    assert report["dataset"]["layout"] == "awa2" and report["dataset"]["classes"] == 3
    assert report["images"] == 3  # one held-out image per class of five
    assert report["figure4_accuracy"]["general_standard"]["clean"] > 34  # above chance (33 %) on its own head
    assert "Figure 5" in capsys.readouterr().out
    assert main(["attributes-eval", "--dataset", "awa2", "--out", str(out)]) != 0
    assert "--dataset needs --root" in capsys.readouterr().err
