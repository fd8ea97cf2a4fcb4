"""The eXIAA study on mnist_cnn: the grid agrees with single attacks, reuses what alpha and top-k do not
change, is cached with its pool pass, leaves an image out of its own pool, prints Table 1's layout beside
the paper's, runs Figure 5, and its command."""
import json
import math

import numpy as np
import pytest
import torch

from core.cache import ResultCache
from core.data import load_digits
from core.data.images import LoadedImage
from core.data.pools import digit_pool, images_pool
from core.errors import InputError
from core.models import load
from core.studies import exiaa as study
from core.studies import exiaa_paper
from core.studies.exiaa_view import attack_one

GRID = study.StudyConfig(methods=("saliency",), alphas=(0.06, 0.15), top_ks=(0.05, 0.3, 0.8))


@pytest.fixture(scope="module")
def mnist():
    loaded = load("mnist_cnn", device="cpu")
    digits = load_digits(3)
    return loaded, digits, torch.cat([d.tensor for d in digits])


def run(mnist, pool, config=GRID, cache=None, **options):
    loaded, digits, x = mnist
    return study.evaluate(loaded.model, x, config, pool, image_names=[d.source_name for d in digits],
                          image_digests=[d.digest for d in digits], class_names=loaded.info.class_names,
                          model_id=loaded.info.model_id, cache=cache, **options)


@pytest.fixture
def explain_calls(monkeypatch):
    """The explanations the study asks for: (number of images) per call."""
    calls = []

    def counting(model, x, target, method, /, **params):
        calls.append(x.shape[0])
        return relevance(model, x, target, method, **params)

    relevance = study.relevance
    monkeypatch.setattr(study, "relevance", counting)
    return calls


def test_the_grid_reuses_all_but_the_corrupted_images_explanations_and_is_cached(mnist, tmp_path, explain_calls):
    cache = ResultCache(tmp_path)
    pool = digit_pool()
    first = run(mnist, pool, cache=cache)
    corrupted = 2 * len(GRID.alphas) * len(GRID.top_ks)  # ours and the baseline at every grid point
    # per image: the image, its attack image, then the corrupted images in batches of BATCH_SIZE
    size = study.BATCH_SIZE
    batches = [size] * (corrupted // size) + [corrupted % size] * (corrupted % size > 0)
    assert explain_calls == [1, 1, *batches] * 3
    assert first.pool_queries == len(pool)  # the pool's probabilities, asked once for the three images
    explain_calls.clear()
    again = run(mnist, pool, cache=cache)
    assert explain_calls == [] and again.pool_queries == 0  # everything from the cache, the pool pass too
    assert all(g.from_cache for g in again.grids["saliency"])
    for figure in study.FIGURES:
        assert (again.values("saliency", "ours", figure) == first.values("saliency", "ours", figure)).all()


def test_each_grid_point_is_the_attack_at_that_point(mnist):
    loaded, digits, x = mnist
    pool = digit_pool()
    result = run(mnist, pool)
    predict, _ = study.black_box(loaded.model, "saliency", {})
    passed = study.pool_pass(predict, pool, x.shape[1:])
    for (a, alpha), (t, top_k) in ((0, 0.06), (1, 0.3)), ((1, 0.15), (2, 0.8)):
        single = attack_one(loaded.model, x[2:], digits[2].digest, passed, "saliency", alpha, top_k, GRID)
        grid = result.grids["saliency"][2]
        assert single.attack_name == grid.attack_names[0] and single.entries == grid.entries[0, t]
        for who in study.WHO:
            for figure in study.FIGURES:
                assert single.corrupted[who].figures[figure] == pytest.approx(
                    float(grid.figures[f"{who}_{figure}"][0, a, t]), rel=1e-5, abs=1e-9), (who, figure)


def test_an_image_is_never_its_own_attack_image(mnist):
    _, digits, _ = mnist
    pool = images_pool("the digits themselves and two more", digits + load_digits(5)[3:])
    result = run(mnist, pool, study.StudyConfig(methods=("saliency",), alphas=(0.1,), top_ks=(0.1,),
                                                attack_images=2))
    for digit, grid in zip(digits, result.grids["saliency"]):
        assert digit.source_name not in grid.attack_names and len(grid.attack_names) == 2


def test_table_1_layout_beside_the_papers_numbers(mnist):
    result = run(mnist, digit_pool(), study.StudyConfig(methods=("saliency",), alphas=(0.03, 0.2), top_ks=(0.01, 0.25)))
    table = result.table("saliency")
    assert list(table) == ["0.03/ours", "0.03/baseline", "0.2/ours", "0.2/baseline"]
    change, confidence = table["0.03/ours"]["0.01"]
    assert change == pytest.approx(result.mean("saliency", "ours", "change_pct")[0, 0])
    assert confidence == pytest.approx(result.mean("saliency", "ours", "confidence_pct")[0, 0])
    text = result.format()
    assert "eXIAA with saliency on 3 images (3 attacks, pool: the MNIST digits (5000))" in text
    assert f"{change:.1f} {confidence:.2f}↓" in text
    paper = result.paper("saliency", "ResNet-18").values(study.table_rows((0.03, 0.2)), ["0.01", "0.25"])
    assert paper["0.03/ours"] == {"0.01": (24.9, 0.37), "0.25": None}  # no top-k 0.25 in the paper
    assert "24.9 0.37↓" in text and "22.2 0.14↓" in text  # B.1, ResNet-18, alpha 0.03: ours, then the baseline
    markdown = result.format(markdown=True)
    assert "| alpha \\ top-k | 0.01 | 0.25 |" in markdown and "|   baseline |" in markdown
    report = json.loads(json.dumps(result.to_dict()))
    assert report["per_image"]["saliency"][0]["y_star_name"] == "0" and report["paper"]["saliency/ViT-B16"]


def test_the_papers_tables_are_transcribed_consistently():
    # Table 1 is Table B.3 at seven top-ks (two rows copied from the main text)
    table_1 = {
        ("ResNet-18", 0.09, "ours"): "22.9 1.21 48.4 2.66 63.0 3.62 78.2 5.04 91.1 7.14 96.3 8.42 98.9 9.04",
        ("ViT-B16", 0.12, "baseline"): "39.2 0.31 71.5 0.72 84.8 1.01 99.3 1.42 108.1 1.84 112.2 2.01 114.4 2.22",
    }
    for (model, alpha, who), text in table_1.items():
        values = [float(v) for v in text.split()]
        cells = exiaa_paper.PAPER[("deeplift_shap", model)][(alpha, who)]
        assert [cells[k] for k in exiaa_paper.TABLE_1_TOP_KS] == list(zip(values[::2], values[1::2]))
    # the baseline's confidence change hardly depends on the method in any of the three tables (0.05 at most)
    for model in exiaa_paper.MODELS:
        tables = [exiaa_paper.PAPER[(m, model)] for m in study.METHODS]
        for row in tables[0]:
            if row[1] == "baseline":
                for k in exiaa_paper.TOP_KS:
                    assert max(t[row][k][1] for t in tables) - min(t[row][k][1] for t in tables) <= 0.051


def test_figure_5_attacks_with_every_other_class_by_rank(mnist, tmp_path):
    loaded, _, _ = mnist
    config = study.StudyConfig(methods=("saliency",), alphas=(0.1,), top_ks=(0.1, 0.5))
    cache, pool = ResultCache(tmp_path), digit_pool()
    ranks = study.evaluate_ranks(loaded.model, mnist[2][:2], config, pool, class_names=loaded.info.class_names,
                                 image_names=["a", "b"], image_digests=[d.digest for d in mnist[1][:2]],
                                 model_id=loaded.info.model_id, cache=cache)
    assert list(ranks) == list(range(1, 10))
    running_up = run(mnist, pool, config, cache=cache)  # the default rank: the same cached grids
    assert [g.y_r for g in ranks[1].grids["saliency"]] == [g.y_r for g in running_up.grids["saliency"][:2]]
    classes = {r: [g.y_r for g in result.grids["saliency"]] for r, result in ranks.items()}
    for i, grid in enumerate(running_up.grids["saliency"][:2]):
        assert sorted(c[i] for c in classes.values()) == sorted(set(range(10)) - {grid.y_star})
    curves = study.rank_curves(ranks, "saliency")
    assert curves["each"].shape == (9, 1, 2) and curves["running_up"] == pytest.approx(curves["each"][0])
    assert curves["others"] == pytest.approx(curves["each"][1:].mean(0))  # two attacks per rank
    with pytest.raises(InputError, match="at most 20 classes"):
        study.evaluate_ranks(None, None, config, pool, class_names=[str(i) for i in range(1000)])


def test_bad_settings_are_refused_up_front():
    for bad in ({"methods": ()}, {"methods": ("lrp",)}, {"alphas": (0.0,)}, {"alphas": (1.5,)}, {"top_ks": (0,)},
                {"top_ks": (math.nan,)}, {"attack_images": 0}, {"ig_steps": 0}, {"ig_steps": 5000},
                {"noise_std": 0.0}, {"seed": -1}):
        with pytest.raises(InputError):
            study.StudyConfig(**bad)
    assert study.StudyConfig(alphas=(0.15, 0.03, 0.03)).alphas == (0.03, 0.15)


def test_a_pool_of_another_input_size_is_refused_before_anything_is_cached(mnist, tmp_path):
    cache = ResultCache(tmp_path)
    colour = LoadedImage(torch.rand(1, 3, 28, 28), (28, 28), "RGB", "a colour upload", "colour.png")
    pool = images_pool("uploads", [load_digits(4)[3], colour])
    with pytest.raises(InputError, match="The pool image colour.png is 3×28×28, the attacked images 1×28×28"):
        run(mnist, pool, cache=cache)
    assert len(cache) == 0  # neither the pool pass nor any grid was stored
    with pytest.raises(InputError, match="holds no images"):
        run(mnist, images_pool("uploads", []), cache=cache)


def test_exiaa_eval_prints_table_1_and_writes_json(tmp_path, capsys, cache_dir):
    from core.__main__ import main

    out = tmp_path / "r.json"
    quick = ["--methods", "saliency", "--alpha", "0.06", "--top-k", "0.1", "0.5", "--out", str(out)]
    assert main(["exiaa-eval", "--model", "mnist_cnn", "--images", "mnist:2", *quick]) == 0
    printed = capsys.readouterr().out
    assert "eXIAA with saliency on 2 images" in printed and "ViT-B16" in printed
    assert "The paper's claims, saliency:\nchange % grows with alpha in" in printed
    report = json.loads(out.read_text())
    assert report["images"] == ["mnist_test_0", "mnist_test_1"] and report["pool"] == "the MNIST digits (5000)"
    assert report["config"]["alphas"] == [0.06] and report["device"] == "cpu" and "mnist_cnn" in report["model"]
    assert report["claims"]["saliency"] == study.claims(report["means"]["saliency"], (0.1, 0.5))
    assert main(["exiaa-eval", "--images", "gallery", "--pool", "mnist", *quick]) == 2
    assert "this model takes 224×224 RGB inputs" in capsys.readouterr().err
    assert main(["exiaa-eval", "--model", "mnist_cnn", "--pool", str(tmp_path / "none"), *quick]) == 2
    assert "is neither a folder of images, 'gallery', nor 'mnist'" in capsys.readouterr().err


def test_the_papers_claims_are_checked_by_hand_made_grids():
    top_ks = (0.1, 0.2, 0.4)
    concave = np.array([[10.0, 15.0, 17.0], [12.0, 18.0, 21.0]])  # grows in both, flattens over top-k
    means = {"ours": {"change_pct": concave, "ssim": np.array([[0.99, 0.97, 0.95], [0.9, 0.8, 0.7]]),
                      "confidence_pct": np.array([[1.0, 2.0, 6.0], [5.0, 7.0, 9.0]])},
             "baseline": {"change_pct": np.array([[11.0, 14.0, 16.0], [11.0, 19.0, 20.0]])}}
    checked = study.claims(means, top_ks, {"running_up": concave, "others": concave - [[1, 1, -1], [0, 1, 1]]})
    assert checked["change_grows_with_alpha"] == 1 and checked["change_grows_with_top_k"] == 1
    # slopes per unit top-k: lower half 50 and 60, upper half 10 and 15
    assert checked["diminishing_returns"] == 1
    assert checked["ours_above_baseline"] == pytest.approx(4 / 6)
    assert checked["ssim_at_smallest_alpha"] == 0.95
    assert checked["confidence_under_5"] == pytest.approx([2 / 3, 0])  # 5.0 is not under 5
    assert checked["running_up_at_least_others"] == pytest.approx(5 / 6)
    flat = {**means, "ours": {**means["ours"], "change_pct": np.array([[10.0, 11.0, 20.0], [10.0, 11.0, 20.0]])}}
    checked = study.claims(flat, top_ks)
    assert checked["change_grows_with_alpha"] == 0 and checked["diminishing_returns"] == 0
    assert "running_up_at_least_others" not in checked
