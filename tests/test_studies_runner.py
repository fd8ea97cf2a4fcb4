"""The shared study runner (chunks, cache by study, timing, progress) and the shared table."""
import io
import time

import numpy as np
import pytest
import torch

from core.attacks.result import AttackResult
from core.cache import ResultCache
from core.errors import InputError
from core.studies import table
from core.studies.runner import estimate_seconds, run_attack, sub_progress, timing_kind
from core.studies.table import Column, PaperTable, Row


def halving(model, x, *, factor, steps=1, progress=None):
    """A toy 'attack' on inputs of any shape: x_adv = x * factor, success where the first value > 0.5."""
    if progress is not None:
        progress(1.0, "done")
    x_adv = x * factor
    return AttackResult("half", x_adv, x_adv - x, x.flatten(1)[:, 0] > 0.5, torch.ones(len(x), dtype=torch.long),
                        {"factor": factor}, history={"loss": torch.tensor([float(len(x))])})


def test_sub_progress_maps_a_part_onto_its_share():
    seen = []
    part = sub_progress(lambda f, m: seen.append((f, m)), 0.5, 0.75, "PGDC: ")
    part(0.0, "start")
    part(1.0, "end")
    assert seen == [(0.5, "PGDC: start"), (0.75, "PGDC: end")]
    assert sub_progress(None, 0, 1) is None


def test_the_runner_chunks_caches_by_study_and_reports_each_chunk(tmp_path):
    cache = ResultCache(tmp_path)
    x = torch.tensor([[0.9, 0.1], [0.2, 0.3], [0.7, 0.7]])  # tabular rows: any shape runs
    digests = ["a", "b", "c"]
    calls, seen = [], []

    def attack(model, chunk, **params):
        calls.append(len(chunk))
        return halving(model, chunk, **params)

    result = run_attack("toy", "half", attack, None, x, {"factor": 0.5}, model_id="m", input_digests=digests,
                        cache=cache, batch_size=2, progress=lambda f, m: seen.append((f, m)))
    assert calls == [2, 1] and not result.from_cache
    torch.testing.assert_close(result.x_adv, x * 0.5)
    assert result.success.tolist() == [True, False, True]
    assert seen == [(0.5, "images 1-2 of 3, done"), (1.0, "image 3 of 3, done")]
    again = run_attack("toy", "half", attack, None, x, {"factor": 0.5}, model_id="m", input_digests=digests,
                       cache=cache, batch_size=2)
    assert calls == [2, 1] and again.from_cache and again.seconds == result.seconds  # the recorded time
    np.testing.assert_array_equal(again.x_adv.numpy(), result.x_adv.numpy())
    run_attack("other", "half", attack, None, x, {"factor": 0.5}, model_id="m", input_digests=digests,
               cache=cache, batch_size=2)  # another study: its own entries
    run_attack("toy", "half", attack, None, x, {"factor": 0.25}, model_id="m", input_digests=digests,
               cache=cache, batch_size=2)  # other parameters: computed again
    assert calls == [2, 1] * 3
    with pytest.raises(InputError, match="batch size must be a whole number of at least 1"):
        run_attack("toy", "half", attack, None, x, {"factor": 0.5}, batch_size=0)


def test_the_table_lays_out_and_prints_ours_beside_the_papers():
    rows = (Row("asr", "ASR (%)", 1), Row("l2", "l2", 3))
    x = torch.tensor([[0.9, 0.1], [0.2, 0.3]])
    columns = [Column("GSE", halving(None, x, factor=0.5), {"asr": 50.0, "l2": 0.12345}),
               Column("FWnucl", halving(None, x, factor=0.25), {"asr": 100.0, "l2": None})]
    ours = table.values(rows, columns)
    assert ours == {"asr": {"GSE": 50.0, "FWnucl": 100.0}, "l2": {"GSE": 0.12345, "FWnucl": None}}
    paper = PaperTable("Paper", {"GSE": (99.5, 0.5)}).values(rows, ["GSE", "FWnucl"])
    assert paper == {"asr": {"GSE": 99.5, "FWnucl": None}, "l2": {"GSE": 0.5, "FWnucl": None}}
    assert table.render(rows, ["GSE", "FWnucl"], ours).splitlines() == [
        "Algorithm                GSE      FWnucl",
        "ASR (%)                 50.0       100.0",
        "l2                     0.123           -"]
    assert table.render(rows, ["GSE", "FWnucl"], ours, markdown=True).splitlines()[2] == "| ASR (%) | 50.0 | 100.0 |"
    with np.load(io.BytesIO(table.npz(x, ["p", "q"], columns))) as npz:
        np.testing.assert_array_equal(npz["gse_x_adv"], (x * 0.5).numpy())
        assert list(npz["image_names"]) == ["p", "q"] and "gse_delta" not in npz


def test_a_study_configs_settings_become_its_flags():
    """A toy study's config, as docs/architecture.md describes one: every setting a flag with its default
    and help, a count refused below 1 by argparse, the config built back and checked by itself."""
    import argparse
    from dataclasses import dataclass

    from core.commands.flags import WithDefaults, add_settings, settings_from
    from core.studies.settings import setting

    @dataclass(frozen=True)
    class ToyConfig:
        steps: int = setting(5, "attack steps")
        budgets: tuple[float, ...] = setting((1.0, 2.0), "budgets, 0-255 scale", flag="--eps")
        norm: str = setting("l2", "the norm", choices=("l2", "linf"))
        start: float | None = setting(None, "where to start")
        sparse: bool = setting(False, "keep few pixels")
        seed: int = 0  # not a setting: no flag

        def __post_init__(self):
            if self.sparse and self.norm == "linf":
                raise InputError("sparse needs l2")

    parser = argparse.ArgumentParser(formatter_class=WithDefaults)
    add_settings(parser, ToyConfig)
    assert settings_from(parser.parse_args([]), ToyConfig) == ToyConfig()
    got = settings_from(parser.parse_args(["--steps", "3", "--eps", "4", "--norm", "linf", "--start", "0.5"]),
                        ToyConfig)
    assert got == ToyConfig(steps=3, budgets=(4.0,), norm="linf", start=0.5)
    shown = " ".join(parser.format_help().split())
    assert "attack steps (default: 5)" in shown and "--seed" not in shown
    with pytest.raises(SystemExit):
        parser.parse_args(["--steps", "0"])
    with pytest.raises(InputError, match="sparse needs l2"):
        settings_from(parser.parse_args(["--sparse", "--norm", "linf"]), ToyConfig)


def test_estimates_come_from_this_machines_own_runs(tmp_path):
    """A run records its seconds per input; an estimate is the inputs not yet cached times the median of
    the last runs of that kind here, 0 when all are cached, None before the kind ever ran."""
    from core import timings

    cache = ResultCache(tmp_path)
    x = torch.rand(3, 2)
    args = dict(model_id="m", cache=cache, batch_size=2)
    assert estimate_seconds("toy", "half", {"factor": 0.5, "steps": 3}, input_digests=["a", "b", "c"], **args) is None
    def slow(model, chunk, **params):  # 0.05 s per input
        time.sleep(0.05 * len(chunk))
        return halving(model, chunk, **params)

    run_attack("toy", "half", slow, None, x, {"factor": 0.5, "steps": 3}, input_digests=["a", "b", "c"], **args)
    per_input = timings.seconds_per_input(cache, timing_kind("toy", "half", "m", {"steps": 3}))
    assert 0.05 <= per_input < 0.1  # the median of the two chunks' own times per input
    assert estimate_seconds("toy", "half", {"factor": 0.5, "steps": 3}, input_digests=["a", "b", "c"], **args) == 0
    later = estimate_seconds("toy", "half", {"factor": 0.25, "steps": 3}, input_digests=["a", "b", "d", "e"], **args)
    assert later == pytest.approx(4 * timings.seconds_per_input(cache, timing_kind("toy", "half", "m", {"steps": 3})))
    for seconds in (1.0, 2.0, 3.0, 4.0, 100.0, 5.0):
        timings.record(cache, "k", seconds * 2, 2)
    assert timings.seconds_per_input(cache, "k") == 4.0  # the median of the last five: 2, 3, 4, 100, 5
