"""Evaluations on a Ray cluster (a local Ray instance with 2 CPUs): the same figures as a local run, a
killed worker's chunk redone, and Ray never imported without --ray."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("ray")

from core.__main__ import main  # noqa: E402
from core.cache import ResultCache  # noqa: E402
from core.errors import InputError  # noqa: E402
from core.studies import cluster  # noqa: E402
from core.studies.runner import run_attack  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EVAL = ["c2f-eval", "--model", "mnist_cnn", "--images", "mnist:8", "--batch-size", "4"]
TIMING = ("seconds", "created", "versions", "cluster")  # timing and provenance: all that may differ


def _figures(path: Path) -> dict:
    """A results file without its timing and provenance."""
    report = json.loads(path.read_text())
    for column in report["columns"]:
        column["attack"].pop("seconds")
    return {k: v for k, v in report.items() if k not in TIMING}


@pytest.fixture
def one_thread():
    """This process on one CPU thread, as each worker runs by default (--worker-threads 1): the LRP attack's
    l2 steps keep the last bits of the gradient, so the same sums in another order give other figures."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_c2f_eval_through_ray_gives_the_local_figures_and_a_rerun_reads_its_cache(
        tmp_path, cache_dir, capsys, monkeypatch, one_thread):
    assert main([*EVAL, "--no-cache", "--out", str(tmp_path / "local.json")]) == 0
    local_table = capsys.readouterr().out
    assert main([*EVAL, "--ray", "auto", "--workers", "2", "--out", str(tmp_path / "ray.json")]) == 0
    ray_table = capsys.readouterr().out
    assert _figures(tmp_path / "ray.json") == _figures(tmp_path / "local.json")  # per image and table
    assert ray_table.replace(str(tmp_path / "ray.json"), "") == local_table.replace(str(tmp_path / "local.json"), "")
    made = json.loads((tmp_path / "ray.json").read_text())["cluster"]
    assert made["workers"] == 2 and made["nodes"] == 1 and made["devices"][0]["cpus"] == 2

    stored = len(ResultCache(cache_dir))
    assert stored >= 5 * 2  # five columns of two chunks each, stored by the workers and the driver alike
    monkeypatch.setattr(cluster, "_task", _refuse)  # any task sent would fail the run
    assert main([*EVAL, "--ray", "auto", "--out", str(tmp_path / "again.json")]) == 0
    assert _figures(tmp_path / "again.json") == _figures(tmp_path / "local.json")


def _refuse(*args, **kwargs):
    raise AssertionError("a cached chunk was sent to a worker")


def _pgd(model, x, progress=None, **params):
    from core.attacks.pgd import pgd

    with torch.no_grad():
        y = model(x).argmax(1)
    return pgd(model, x, y, eps=0.1, alpha=0.02, steps=5, progress=progress)


def test_a_killed_workers_chunk_is_redone_and_the_result_is_the_same(tmp_path):
    from core.data.mnist import load_digits
    from core.models import load

    loaded = load("mnist_cnn")
    x = torch.cat([digit.tensor for digit in load_digits(6)])
    local = run_attack("t", "pgd", _pgd, loaded.model, x, {}, batch_size=2)
    marker = tmp_path / "killed-once"

    def dies_once(model, chunk, progress=None, **params):
        if not marker.exists():
            marker.touch()
            os._exit(1)  # the worker process dies mid-chunk, as if killed
        return _pgd(model, chunk, progress=progress)

    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # this file's functions travel by value
    seen = []
    with cluster.session("auto", 2):
        remote = run_attack("t", "pgd", dies_once, loaded.model, x, {}, model_id=loaded.info.model_id,
                            batch_size=2, progress=lambda f, m: seen.append((f, m)))
    assert marker.exists()  # a worker did die
    assert torch.equal(remote.x_adv, local.x_adv) and torch.equal(remote.success, local.success)
    assert seen[-1][0] == 1.0


def test_without_ray_flag_ray_is_never_imported(tmp_path):
    code = ("import sys\nfrom core.__main__ import main\n"
            f"assert main({[*EVAL[:3], '--images', 'mnist:1', '--no-cache', '--out', str(tmp_path / 'r.json')]!r}) "
            "== 0\nassert 'ray' not in sys.modules, 'ray was imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)


def test_bad_cluster_settings_are_refused(capsys):
    assert main([*EVAL, "--workers", "2"]) == 2
    assert "--workers needs --ray" in capsys.readouterr().err
    with pytest.raises(InputError, match="at least 1"):
        with cluster.session("auto", 0):
            pass
