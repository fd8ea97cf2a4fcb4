"""The C2F study: the poster's table from real attack runs, its layouts, and its cache."""
import dataclasses
import json

import pytest
import torch

from core.cache import ResultCache
from core.data.images import load_image
from core.data.mnist import mnist_split
from core.errors import InputError
from core.metrics.intervals import binomial_interval, bootstrap_interval
from core.models import load
from core.studies import c2f as study


@pytest.fixture(scope="module")
def mnist():
    loaded = load("mnist_cnn", hierarchy="mnist_c2f", device="cpu")
    return loaded, mnist_split("test")[0][:4]


def test_table_has_the_posters_rows_and_columns_and_consistent_figures(mnist, tmp_path, attack_calls):
    loaded, x = mnist
    calls = attack_calls
    config = study.StudyConfig(level="coarse", eps_255=(40.0,), lrp_steps=10, deepfool_steps=20, pgd_steps=10)
    digests = [str(i) for i in range(4)]
    cache = ResultCache(tmp_path)
    result = study.evaluate(loaded.model, x, config, image_names=digests, model_id=loaded.info.model_id,
                            image_digests=digests, cache=cache, batch_size=2)
    table = result.table()
    assert list(table) == ["rho_2", "rho_1", "rho_inf", "fooling_pct"]
    assert list(table["rho_2"]) == ["LRPC eps=40", "DFC", "PGDC"]
    for column in result.columns:
        success = column.result.success
        assert column.figures["fooling_pct"] == pytest.approx(100 * success.float().mean().item())
        if success.any():
            rho = (column.result.delta.flatten(1).abs().amax(1) / x.flatten(1).amax(1))[success].mean()
            assert column.figures["rho_inf"] == pytest.approx(rho.item(), rel=1e-5)
    lrp = result.columns[0]
    assert (lrp.result.delta.abs() <= 40 / 255).all()
    assert len(calls) == 3 * 2  # three columns, two chunks of two images
    again = study.evaluate(loaded.model, x, config, image_names=digests, model_id=loaded.info.model_id,
                           image_digests=digests, cache=cache, batch_size=2)
    assert len(calls) == 6  # everything from the cache
    assert torch.equal(again.columns[0].result.x_adv, lrp.result.x_adv)
    assert lrp.result.seconds > 0 and again.columns[0].result.seconds == lrp.result.seconds  # the run's own time


def test_text_and_markdown_layouts_show_ours_beside_the_poster(mnist):
    loaded, x = mnist
    config = study.StudyConfig(level="fine", attacks=("pgd",), pgd_steps=3)
    result = study.evaluate(loaded.model, x, config, image_names=["a", "b", "c", "d"])
    text = result.format()
    assert "PGDF" in text and "0.0078" in text and "95.7" in text  # the poster's PGDF column
    markdown = result.format(markdown=True).splitlines()
    tables = [line for line in markdown if line.startswith("| rho_adv^2")]
    assert len(tables) == 3 and markdown[2].startswith("| Algorithm | PGDF |")  # ours, its intervals, the poster's
    lines = ["", *markdown, ""]  # a table must have a blank line before and after it (else a note line
    for before, line, after in zip(lines, lines[1:], lines[2:]):  # under it is read as another row)
        if line.startswith("|"):
            assert before.startswith("|") or before == "", before
            assert after.startswith("|") or after == "", after


def test_an_empty_batch_is_refused_with_a_message(mnist):
    loaded, x = mnist
    with pytest.raises(InputError, match="no pixels"):
        study.evaluate(loaded.model, x[:0], study.StudyConfig(attacks=("pgd",)), image_names=[])


def test_bad_configurations_are_refused():
    with pytest.raises(InputError):
        study.StudyConfig(level="middle")
    with pytest.raises(InputError):
        study.StudyConfig(attacks=("cw",))
    with pytest.raises(InputError):
        study.StudyConfig(eps_255=(300.0,))
    with pytest.raises(InputError, match="signed_inputs"):
        study.StudyConfig(lrp_signed_inputs="literal")


def test_config_takes_each_budget_once_in_order_and_refuses_bad_settings_up_front():
    assert study.StudyConfig(eps_255=(20, 10, 10.0)).eps_255 == (10.0, 20.0)
    for bad in ({"lrp_steps": 0}, {"pgd_steps": -1}, {"deepfool_steps": 0}, {"lrp_p": 0.5}, {"lrp_init": "ones"},
                {"deepfool_candidates": 0}, {"pgd_alpha_255": 0.0}, {"eps_255": ()}, {"lrp_composite": "zplus"},
                {"lrp_step_rule": "adam"}, {"eps_255": (0, 10)}, {"pgd_eps_255": 0.0}):
        with pytest.raises(InputError):
            study.StudyConfig(**bad)


def test_an_unused_budget_of_0_is_not_refused():
    assert study.StudyConfig(attacks=("lrp",), pgd_eps_255=0).pgd_eps_255 == 0
    assert study.StudyConfig(attacks=("deepfool", "pgd"), eps_255=(0,)).eps_255 == (0.0,)


def test_caveats_say_when_pgd_cannot_reach_its_budget():
    assert study.StudyConfig().caveats() == []  # 20 steps of 1/255 reach 10/255
    assert study.StudyConfig(pgd_steps=1, pgd_alpha_255=4).caveats()[0].startswith("PGD's 1 step of 4/255 can move")
    assert study.StudyConfig(attacks=("lrp",), pgd_eps_255=64).caveats() == []  # no PGD
    (caveat,) = study.StudyConfig(pgd_eps_255=64, pgd_steps=20, pgd_alpha_255=2).caveats()
    assert "at most 40/255" in caveat and "64/255" in caveat
    assert study.StudyConfig(pgd_eps_255=64, pgd_steps=32, pgd_alpha_255=2).caveats() == []


def test_relevance_pair_gives_the_maps_the_lrp_attack_starts_from(mnist):
    from core.attacks.c2f import C2FLabels
    from core.attacks.lrp_c2f import lrp_c2f, lrp_loss

    loaded, x = mnist
    config = study.StudyConfig(attacks=("lrp",), eps_255=(10.0,), lrp_steps=2)
    (_, _, params), = config.runs()
    result = lrp_c2f(loaded.model, x, level="coarse", **params)
    maps = study.relevance_pair(loaded.model, x, C2FLabels.of(loaded.model, x), "coarse", config.lrp_rules())
    # the loss of the first iterate (x itself, no random start) is the loss of the maps the page draws
    assert float(lrp_loss(torch.stack(maps), 2.0).mean()) == pytest.approx(float(result.history["lrp_loss"][0]),
                                                                           rel=1e-4)
    onehot = study.relevance_pair(loaded.model, x, C2FLabels.of(loaded.model, x), "coarse",
                                  dataclasses.replace(config.lrp_rules(), init="onehot"))
    assert not torch.allclose(onehot[0], maps[0])  # the seed matters: drawing the other one would mislead


def test_all_black_images_are_refused_before_any_attack_runs(mnist, attack_calls):
    loaded, x = mnist
    x = x.clone()
    x[2] = 0
    with pytest.raises(InputError, match="All-black.*c"):
        study.evaluate(loaded.model, x, study.StudyConfig(attacks=("pgd",)), image_names=["a", "b", "c", "d"])
    assert not attack_calls


def test_c2f_eval_command_skips_black_images_fits_the_hierarchy_and_creates_the_output_folder(mnist, tmp_path,
                                                                                               capsys):
    from PIL import Image

    from core.__main__ import main

    _, x = mnist
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2):
        Image.fromarray((x[i, 0] * 255).round().byte().numpy()).save(folder / f"digit{i}.png")
    Image.new("L", (28, 28)).save(folder / "black.png")
    (folder / "digit1_link.png").symlink_to(folder / "digit1.png")  # one image, attacked once
    out = tmp_path / "new" / "folder" / "r.json"
    code = main(["c2f-eval", "--model", "mnist_cnn", "--images", str(folder), "--attacks", "pgd",
                 "--pgd-steps", "3", "--pgd-alpha", "2", "--lrp-init", "onehot", "--no-cache", "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0
    assert "PGDC" in printed.out and "note: PGD's" not in printed.out and "skipped" not in printed.out  # the table
    assert "skipped black.png: all black" in printed.err
    assert "skipped digit1_link.png: the same file as digit1.png" in printed.err
    assert "note: PGD's 3 steps of 2/255 can move a pixel by at most 6/255" in printed.err
    assert "belongs to no coarse class" not in printed.err  # mnist_c2f holds every digit
    report = json.loads(out.read_text())
    assert report["images"] == ["digit0.png", "digit1.png"] and "mnist_c2f" in report["model"]
    assert report["config"]["lrp_init"] == "onehot" and report["config"]["pgd_alpha_255"] == 2.0
    # what made the figures: the batch size (it moves them), which images, hierarchy, weights, versions
    info = mnist[0].info
    digit1 = load_image(folder / "digit1.png", **info.input.loading())
    assert report["batch_size"] == 4 and report["image_digests"][1] == digit1.digest
    assert report["hierarchy"]["name"] == "mnist_c2f" and report["hierarchy"]["digest"] in report["model"]
    assert "mnist_cnn" in report["weights"] and report["versions"]["torch"] == torch.__version__.split("+")[0]
    assert report["created"].endswith("+00:00") and report["device"] == "cpu"


def test_c2f_eval_takes_the_bundled_mnist_test_digits_by_default_for_a_digits_model_and_as_mnist_n(tmp_path, capsys):
    import numpy as np

    from core.__main__ import main
    from core.data import load_digits

    out, npz = tmp_path / "r.json", tmp_path / "r.npz"
    quick = ["--attacks", "pgd", "--pgd-steps", "1", "--no-cache", "--out", str(out)]
    assert main(["c2f-eval", "--model", "mnist_cnn", *quick, "--npz", str(npz)]) == 0
    assert json.loads(out.read_text())["images"] == [f"mnist_test_{i}" for i in range(study.DEFAULT_DIGITS)]
    assert np.array_equal(np.load(npz)["x"], torch.cat([d.tensor for d in load_digits(study.DEFAULT_DIGITS)]).numpy())
    assert main(["c2f-eval", "--model", "mnist_cnn", "--images", "mnist:3", *quick]) == 0
    assert json.loads(out.read_text())["images"] == ["mnist_test_0", "mnist_test_1", "mnist_test_2"]
    capsys.readouterr()
    for spec, message in (("mnist:0", "has 1000 digits; ask for 1 to 1000, not 0"), ("mnist:1001", "not 1001"),
                          ("mnist:ten", "give the number of MNIST test digits, e.g. mnist:20")):
        assert main(["c2f-eval", "--model", "mnist_cnn", "--images", spec, *quick]) == 2
        assert message in capsys.readouterr().err
    assert main(["c2f-eval", "--images", "mnist:3", *quick]) == 2  # efficientnet_lite0 takes colour photos
    assert "MNIST digits are 28x28 grayscale images; this model takes 224×224 RGB inputs" in capsys.readouterr().err
    assert json.loads(out.read_text())["images"] == ["mnist_test_0", "mnist_test_1", "mnist_test_2"]  # left as it was


def test_c2f_eval_leaves_an_earlier_results_file_whole_when_the_write_fails(mnist, tmp_path, capsys, monkeypatch):
    from core.__main__ import main

    out = tmp_path / "r.json"
    out.write_text("earlier results")

    def disk_full(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("core.commands.files.os.replace", disk_full)
    assert main(["c2f-eval", "--model", "mnist_cnn", "--images", "gallery", "--attacks", "pgd", "--pgd-steps", "1",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Cannot write --out" in err and "No space left" in err and "a rerun takes seconds" in err
    assert out.read_text() == "earlier results" and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_c2f_eval_command_refuses_bad_settings_and_misfit_hierarchies_with_a_message(tmp_path, capsys):
    from core.__main__ import main

    assert main(["c2f-eval", "--model", "mnist_cnn", "--hierarchy", "imagenet_c2f", "--out", str(tmp_path / "r.json"),
                 "--no-cache"]) == 2
    assert "does not fit a model with 10 classes" in capsys.readouterr().err
    assert main(["c2f-eval", "--hierarchy", "mnist_c2f", "--out", str(tmp_path / "new" / "r.json"), "--no-cache"]) == 2
    assert "does not fit a model with 1000 classes" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()  # a refused run leaves no folder behind
    for flag in ("--pgd-steps", "--lrp-steps", "--deepfool-candidates", "--batch-size"):
        with pytest.raises(SystemExit) as refused:  # argparse's refusal, which names the option
            main(["c2f-eval", flag, "0", "--out", str(tmp_path / "r.json")])
        assert refused.value.code == 2 and f"argument {flag}: must be at least 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["c2f-eval", "--model", "mnist_cnn", "--out", str(blocker / "r.json"), "--no-cache"]) == 2
    assert "Cannot write --out" in capsys.readouterr().err
    assert main(["c2f-eval", "--eps", "0", "--out", str(tmp_path / "r.json")]) == 2
    assert "An LRP budget (--eps) of 0 attacks nothing" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [blocker]  # nothing written
    kept = tmp_path / "kept.json"
    kept.write_text("earlier results")
    assert main(["c2f-eval", "--eps", "0", "--out", str(kept)]) == 2  # refused after the check of --out
    assert main(["c2f-eval", "--model", "mnist_cnn", "--images", str(tmp_path / "missing"), "--out", str(kept)]) == 2
    assert kept.read_text() == "earlier results"  # neither truncated nor deleted by the check


def test_the_out_check_leaves_what_it_found_and_removes_what_it_made(tmp_path):
    from core.commands.files import check_writable

    existing = tmp_path / "old.json"
    existing.write_text("keep")
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "nowhere" / "target.json")
    check_writable(existing)
    check_writable(tmp_path / "a" / "b" / "r.json")
    with pytest.raises(InputError, match="Cannot write --out"):
        check_writable(link)  # its target's folder is missing: the link is the user's, kept as it is
    assert existing.read_text() == "keep" and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "old.json"]


def test_figures_keep_both_means_and_the_8bit_fooling_ratio(mnist):
    loaded, x = mnist
    hc = loaded.model
    grid = torch.round(x * 255) / 255  # on the 8-bit grid, as a saved image
    config = study.StudyConfig(level="coarse", attacks=("deepfool", "pgd"), deepfool_steps=7, pgd_steps=10,
                               pgd_eps_255=40, pgd_alpha_255=8, over="all")  # budgets that fool 3 of the 4
    result = study.evaluate(hc, grid, config, image_names=list("abcd"))
    for column in result.columns:
        success, delta = column.result.success, column.result.delta
        assert success.any() and not success.all()  # so the two means differ
        rho = (delta.flatten(1).double().norm(dim=1) / grid.flatten(1).double().norm(dim=1)).tolist()
        fig = column.figures
        assert fig["rho_2"] == fig["rho_2_all"] == pytest.approx(sum(rho) / 4, rel=1e-12)  # over="all"
        assert fig["rho_2_success"] == pytest.approx(sum(r for r, s in zip(rho, success) if s) / int(success.sum()),
                                                     rel=1e-12)
        rounded = torch.round(column.result.x_adv * 255) / 255
        coarse, _ = hc.logits(rounded)
        kept = success & (coarse.argmax(1) != column.result.labels["r_org"])
        assert torch.equal(study.survives_8bit(hc, column.result, "coarse", batch_size=3), kept)
        assert fig["fooling_pct_8bit"] == 100 * int(kept.sum()) / 4
        # the 95 % intervals: the bootstrap of the chosen mean (over="all": every image), the exact binomial
        assert fig["rho_2_ci"] == pytest.approx(bootstrap_interval(torch.tensor(rho)), rel=1e-6)
        assert fig["rho_2_ci"][0] <= fig["rho_2"] <= fig["rho_2_ci"][1]
        assert fig["fooling_pct_ci"] == tuple(100 * v for v in binomial_interval(int(success.sum()), 4))
    text = result.format()
    assert "95 % intervals" in text and f"{result.columns[0].figures['fooling_pct_ci'][0]:.1f}–" in text
    counts = result.coarse_counts(loaded.info.hierarchy.coarse_names)
    assert sum(counts.values()) == 4 and list(counts) == list(loaded.info.hierarchy.coarse_names)


def test_notes_name_columns_undone_by_8bit_rounding_and_explain_missing_figures(mnist):
    loaded, x = mnist
    config = study.StudyConfig(level="coarse", attacks=("deepfool",))
    result = study.evaluate(loaded.model, x, config, image_names=list("abcd"))
    column = result.columns[0]
    fooled = int(column.result.success.sum())
    kept = int(study.survives_8bit(loaded.model, column.result, "coarse").sum())
    assert kept < fooled  # DeepFool's minimal steps: on these digits most do not survive rounding
    assert result.notes() == [f"rounded to 1/255 as an 8-bit PNG stores them, DFC's adversarial images fool {kept} "
                              f"of 4 (unrounded: {fooled})."]
    none = study.StudyResult(config, list("abcd"), [study.Column("DFC", column.result, column.figures | {
        "rho_2": None, "fooling_pct_8bit": column.figures["fooling_pct"]})])
    assert none.notes() == ["'-': no attack of that column succeeded, so there is no perceptibility to average."]
    assert "note: '-': no attack" in none.format()


def test_c2f_eval_command_takes_one_image_file_and_passes_every_attack_setting_through(mnist, tmp_path, capsys):
    from PIL import Image

    from core.__main__ import main

    _, x = mnist
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray((x[0, 0] * 255).round().byte().numpy()).save(folder / "digit0.png")
    out = tmp_path / "r.json"
    assert main(["c2f-eval", "--model", "mnist_cnn", "--images", str(folder / "digit0.png"),
                 "--attacks", "lrp", "deepfool", "pgd", "--eps", "40", "--lrp-steps", "2", "--lrp-alpha", "5",
                 "--lrp-early-stop", "--deepfool-steps", "3", "--deepfool-overshoot", "0.05",
                 "--deepfool-candidates", "2", "--deepfool-crossing", "0", "--pgd-steps", "2", "--pgd-random-start",
                 "--no-cache", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["images"] == ["digit0.png"]  # --images takes one file as well as a folder
    lrp, deepfool, pgd = (column["attack"]["params"] for column in report["columns"])
    assert lrp["alpha"] == pytest.approx(5 / 255) and lrp["early_stop"] is True and lrp["steps"] == 2
    assert deepfool == {"steps": 3, "overshoot": 0.05, "candidates": 2, "crossing": 0.0, "level": "coarse"}
    assert pgd["random_start"] is True and pgd["steps"] == 2
    printed = capsys.readouterr().out  # the claims the one-budget table can bear on, printed and in the JSON
    assert [c["key"] for c in report["claims"]] == ["fooling_rises", "between", "deepfool_8bit"]
    assert report["claims"][0]["holds"] is None  # one budget: nothing to rise over
    assert "The poster's claims on this table:\n  [not checked] LRPC's fooling ratio rises with eps" in printed
    assert sum(report["images_per_coarse_class"].values()) == 1 and report["top1_outside_hierarchy"] == {}
    parity = tmp_path / "parity.json"
    parity.write_text(json.dumps({"name": "parity", "num_classes": 10, "coarse": [
        {"name": "even", "members": [0, 2, 4, 6, 8], "member_names": list("02468")},
        {"name": "odd", "members": [1, 3, 5, 7, 9], "member_names": list("13579")}]}))
    assert main(["c2f-eval", "--model", "mnist_cnn", "--hierarchy", str(parity), "--images", str(folder),
                 "--attacks", "pgd", "--pgd-steps", "2", "--no-cache", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["model"].startswith("mnist_cnn/parity.")  # a hierarchy of one's own
    assert report["columns"][0]["attack"]["labels"]["r_org"] == [0]  # digit 0 is even
    defaults = {column: params for column, _, params in study.StudyConfig().runs()}
    assert "random_start" not in defaults["PGDC"] and "crossing" not in defaults["DFC"]  # same cache keys as before
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["c2f-eval", "--help"])
    assert "most DeepFool steps (default: 50)" in " ".join(capsys.readouterr().out.split())


def test_c2f_eval_writes_the_exact_adversarial_images_to_npz_when_asked(mnist, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from core.__main__ import main

    _, x = mnist
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        Image.fromarray((x[i, 0] * 255).round().byte().numpy()).save(folder / f"digit{i}.png")
    out, npz = tmp_path / "r.json", tmp_path / "arrays" / "r.npz"
    assert main(["c2f-eval", "--model", "mnist_cnn", "--images", str(folder), "--attacks", "lrp", "pgd",
                 "--eps", "40", "--lrp-steps", "3", "--pgd-steps", "3", "--pgd-alpha", "4", "--no-cache",
                 "--out", str(out), "--npz", str(npz)]) == 0
    assert f"wrote {npz}" in capsys.readouterr().out
    report = json.loads(out.read_text())
    with np.load(npz) as arrays:  # no pickled objects: np.load's default refuses them
        assert arrays["image_names"].tolist() == report["images"] == ["digit0.png", "digit1.png", "digit2.png"]
        assert np.array_equal(arrays["x"], x[:3].numpy())  # the PNGs hold the digits exactly
        for column, slug, eps in zip(report["columns"], ("lrpc_eps40", "pgdc"), (40, 10)):
            x_adv = arrays[f"{slug}_x_adv"]
            assert np.abs(x_adv - arrays["x"]).max() <= eps / 255 + 1e-6 and 0 <= x_adv.min() and x_adv.max() <= 1
            assert arrays[f"{slug}_success"].tolist() == column["attack"]["success"]
            assert arrays[f"{slug}_label_r_org"].tolist() == column["attack"]["labels"]["r_org"]
    assert main(["c2f-eval", "--model", "mnist_cnn", "--images", str(folder), "--out", str(out),
                 "--npz", str(out)]) == 2
    assert "--npz and --out name the same file" in capsys.readouterr().err
    assert main(["c2f-eval", "--model", "mnist_cnn", "--images", str(folder), "--out", str(out),
                 "--npz", str(tmp_path)]) == 2
    assert f"--npz {tmp_path} is a folder" in capsys.readouterr().err


def test_the_page_table_attacks_in_the_batches_of_c2f_eval():
    from core.__main__ import build_parser

    assert build_parser().parse_args(["c2f-eval"]).batch_size == study.BATCH_SIZE


def test_progress_says_which_images_are_being_attacked(mnist):
    loaded, x = mnist
    seen = []
    config = study.StudyConfig(attacks=("pgd",), pgd_steps=2, pgd_eps_255=2, pgd_alpha_255=1)
    study.evaluate(loaded.model, x, config, image_names=list("abcd"), batch_size=2,
                   progress=lambda fraction, message: seen.append((fraction, message)))
    assert "PGDC: images 1-2 of 4, step 1/2" in [m for _, m in seen]
    assert "PGDC: images 3-4 of 4, step 2/2" in [m for _, m in seen]
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_every_setting_of_the_config_is_a_c2f_eval_flag_with_the_configs_default():
    from core.__main__ import build_parser
    from core.commands.flags import settings_from

    args = build_parser(["c2f-eval"]).parse_args(["c2f-eval"])
    assert settings_from(args, study.StudyConfig) == study.StudyConfig()  # the defaults are stated once
    assert all(hasattr(args, f.name) for f in dataclasses.fields(study.StudyConfig))
    changed = build_parser().parse_args(["c2f-eval", "--eps", "8", "4", "--lrp-step", "scaled", "--lrp-alpha", "1.5",
                                         "--pgd-random-start", "--lrp-composite", "epsilon_plus_flat"])
    config = settings_from(changed, study.StudyConfig)
    assert (config.eps_255, config.lrp_step_rule, config.lrp_alpha_255, config.pgd_random_start) == (
        (4.0, 8.0), "scaled", 1.5, True)
    assert config.lrp_rules().composite == "epsilon_plus_flat"


def test_images_outside_the_hierarchy_are_named_one_by_one_and_counted_past_ten(capsys):
    from core.commands.c2f import _note_outside

    _note_outside({"a.png": "tripod", "b.png": "stove"}, "imagenet_c2f")
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"note: the top-1 class of {n} ({t}) belongs to no coarse class of imagenet_c2f; it is attacked "
                     "in the strongest group" for n, t in (("a.png", "tripod"), ("b.png", "stove"))]
    _note_outside({f"{i}.png": f"class {i}" for i in range(12)}, "imagenet_c2f")
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("note: the top-1 classes of 12 images belong to no coarse class of imagenet_c2f")
    assert "9.png (class 9) and 2 more (all in the JSON, top1_outside_hierarchy)" in line and "10.png" not in line
