"""``python -m core explain``: its three files, named so that other requests do not overwrite them, and an
--out it cannot use refused before any work."""
import json
import warnings

import numpy as np
import pytest
from PIL import Image

from core.__main__ import main


def test_explain_writes_the_heatmap_the_relevance_and_the_report(tmp_path, capsys):
    out = tmp_path / "new" / "out"
    assert main(["explain", "--model", "mnist_cnn", "--image", "chelsea", "--method", "saliency", "--target", "3",
                 "--out", str(out)]) == 0
    stem = "chelsea_saliency_class3"
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}_explanation.json", f"{stem}_heatmap.png",
                                                     f"{stem}_relevance.npz"]
    report = json.loads((out / f"{stem}_explanation.json").read_text())
    assert report["target"] == 3 and report["method"] == "saliency"
    with np.load(out / f"{stem}_relevance.npz") as npz:
        assert npz["relevance"].shape[-2:] == (28, 28)
    assert "wrote" in capsys.readouterr().out


def test_other_images_classes_and_parameters_get_their_own_files(tmp_path, capsys):
    """cat.png and cat.jpg share a stem, and one image explained for two classes or with two parameter
    settings shares everything else: none of them may overwrite another's files."""
    Image.new("L", (28, 28), 0).save(tmp_path / "cat.png")
    Image.new("L", (28, 28), 255).save(tmp_path / "cat.jpg")
    out = tmp_path / "out"
    requests = [("cat.png", "3", []), ("cat.jpg", "3", []), ("cat.png", "5", []),
                ("cat.png", "3", ["--param", "abs=false"])]
    for image, target, param in requests:
        assert main(["explain", "--model", "mnist_cnn", "--image", str(tmp_path / image), "--method", "saliency",
                     "--target", target, *param, "--out", str(out)]) == 0
    reports = [json.loads(p.read_text()) for p in sorted(out.glob("*_explanation.json"))]
    assert len(list(out.iterdir())) == 3 * len(requests)
    assert sorted((r["image"], r["target"], r["params"].get("abs")) for r in reports) == [
        ("cat.jpg", 3, True), ("cat.png", 3, False), ("cat.png", 3, True), ("cat.png", 5, True)]
    main(["explain", "--model", "mnist_cnn", "--image", str(tmp_path / "cat.png"), "--method", "saliency",
          "--target", "3", "--out", str(out)])
    assert len(list(out.iterdir())) == 3 * len(requests)  # the same request writes the same files again


@pytest.mark.parametrize("method", ["lrp", "saliency", "integrated_gradients", "deeplift_shap"])
def test_explain_prints_no_library_warnings(tmp_path, method):
    """captum warned that it set requires_grad on the caller's tensor (saliency) and that it hooks the
    activations (DeepLIFT SHAP): noise in the command's output, and the first a mutated input."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["explain", "--model", "mnist_cnn", "--image", "chelsea", "--method", method, "--no-cache",
                     "--out", str(tmp_path)]) == 0
    assert [str(w.message) for w in caught] == []


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


@pytest.mark.parametrize("param, message", [
    ("abs=False", "The saliency parameter abs takes true or false, got 'False'"),  # Python's spelling, not JSON's
    ("abs=maybe", "The saliency parameter abs takes true or false, got 'maybe'"),
])
def test_a_parameter_of_the_wrong_type_is_refused_before_it_reaches_the_method(tmp_path, capsys, param, message):
    """Before, the string "False" reached captum as a truthy abs=True and the command wrote its files."""
    assert main(["explain", "--model", "mnist_cnn", "--image", "chelsea", "--method", "saliency", "--param", param,
                 "--no-cache", "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("steps, message", [
    ("1e9", "The integrated_gradients parameter n_steps takes an integer, got 1000000000.0"),  # was captum's "deg"
    ("100000000", "Integrated gradients takes 1 to 1000 steps (n_steps), got 100000000"),  # was a 71 PiB array
])
def test_integrated_gradients_steps_out_of_range_are_refused_in_its_own_words(tmp_path, capsys, steps, message):
    assert main(["explain", "--model", "mnist_cnn", "--image", "chelsea", "--method", "integrated_gradients",
                 "--param", f"n_steps={steps}", "--no-cache", "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_running_out_of_memory_ends_with_advice_and_other_errors_still_raise(tmp_path, capsys, monkeypatch):
    import core.explain.explanation

    def explain_that_fails(*args, **kwargs):
        raise failure

    monkeypatch.setattr(core.explain.explanation, "explain", explain_that_fails)
    argv = ["explain", "--model", "mnist_cnn", "--image", "chelsea", "--out", str(tmp_path)]
    memory = RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9663676416 bytes.")
    for failure in (MemoryError(), memory):  # noqa: B007 (explain_that_fails raises it)
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: out of memory") and "internal_batch_size" in err and "Traceback" not in err
    failure = RuntimeError("mat1 and mat2 shapes cannot be multiplied")
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        main(argv)
