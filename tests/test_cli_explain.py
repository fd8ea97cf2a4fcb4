"""``python -m core explain``: its three files, and an --out it cannot use refused before any work."""
import json

import numpy as np

from core.__main__ import main


def test_explain_writes_the_heatmap_the_relevance_and_the_report(tmp_path, capsys):
    out = tmp_path / "new" / "out"
    assert main(["explain", "--model", "mnist_cnn", "--image", "chelsea", "--method", "saliency", "--target", "3",
                 "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["chelsea_saliency_explanation.json",
                                                     "chelsea_saliency_heatmap.png", "chelsea_saliency_relevance.npz"]
    report = json.loads((out / "chelsea_saliency_explanation.json").read_text())
    assert report["target"] == 3 and report["method"] == "saliency"
    with np.load(out / "chelsea_saliency_relevance.npz") as npz:
        assert npz["relevance"].shape[-2:] == (28, 28)
    assert "wrote" in capsys.readouterr().out


def test_explain_refuses_an_out_that_is_a_file_before_any_work(tmp_path, capsys, monkeypatch):
    import core.models

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded before --out was checked")

    monkeypatch.setattr(core.models, "load", no_loading)
    taken = tmp_path / "results.json"
    taken.write_text("earlier")
    assert main(["explain", "--model", "mnist_cnn", "--image", "chelsea", "--out", str(taken)]) == 2
    assert f"--out {taken} is a file; give a folder" in capsys.readouterr().err
    assert taken.read_text() == "earlier" and [p.name for p in tmp_path.iterdir()] == ["results.json"]
