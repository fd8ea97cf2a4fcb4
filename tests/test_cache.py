"""core.cache: hits, key sensitivity, corrupt entries, the size bound, and concurrent writers."""
from __future__ import annotations

import multiprocessing
import os
import threading
import time
from pathlib import Path

import diskcache
import numpy as np
import pytest
import torch

import core.cache
from core.cache import CachedResult, ResultCache, cache_key


def _assert_same(result: CachedResult, arrays: dict, meta: dict) -> None:
    assert set(result.arrays) == set(arrays)
    for name, expected in arrays.items():
        got = result.arrays[name]
        expected = np.asarray(expected)
        assert got.dtype == expected.dtype, name
        assert got.shape == expected.shape, name
        np.testing.assert_array_equal(got, expected, err_msg=name)
    assert result.meta == meta


def _counted(arrays: dict, meta: dict):
    calls = []

    def compute():
        calls.append(1)
        return arrays, meta

    return compute, calls


ARRAYS = {
    "image": np.random.default_rng(0).random((3, 8, 8), dtype=np.float32),
    "label": np.array(7, dtype=np.int64),
    "mask": np.array([[True, False], [False, True]]).T,  # not C-contiguous
    "half": np.array([1.5, np.nan, -np.inf], dtype=np.float16),
    "wide": np.array([2**64 - 1], dtype=np.uint64),
    "cplx": np.array([1 + 2j], dtype=np.complex64),
    "empty": np.zeros((0, 4), dtype=np.int8),
}
META = {"model": "resnet18", "eps": 0.1, "steps": [1, 2, 3], "nested": {"ok": True, "name": "é"}}


def test_hit_returns_the_same_value_without_computing(tmp_path):
    cache = ResultCache(tmp_path)
    key = cache_key(model="resnet18", method="pgd")
    compute, calls = _counted(ARRAYS, META)

    first, hit1 = cache.get_or_compute(key, compute)
    second, hit2 = cache.get_or_compute(key, compute)

    assert (hit1, hit2) == (False, True)
    assert len(calls) == 1
    _assert_same(first, ARRAYS, META)
    _assert_same(second, ARRAYS, META)

    # Persistent: a fresh cache object on the same directory (a restart) still hits.
    cache.close()
    reopened = ResultCache(tmp_path)
    third, hit3 = reopened.get_or_compute(key, compute)
    assert hit3 and len(calls) == 1
    _assert_same(third, ARRAYS, META)


def test_meta_round_trips_through_json(tmp_path):
    cache = ResultCache(tmp_path)
    key = cache_key(x=1)
    result, _ = cache.get_or_compute(key, lambda: ({}, {"t": (1, 2), "s": np.float32(0.5)}))
    assert result.meta == {"t": [1, 2], "s": 0.5}  # what a later hit returns, too
    assert cache.get(key).meta == result.meta


BASE = dict(
    model="resnet18",
    weights_digest="ab12",
    input_bytes=b"\x89PNG....",
    method="pgd",
    params={"eps": 0.03, "steps": 10, "norm": {"p": "inf", "layers": [1, 2]}},
    target=np.arange(6, dtype=np.float32).reshape(2, 3),
)


def _changed(name: str, value):
    parts = dict(BASE)
    parts[name] = value
    return parts


VARIANTS = {
    "model": _changed("model", "vgg16"),
    "weights": _changed("weights_digest", "ab13"),
    "input": _changed("input_bytes", b"\x89PNG...!"),
    "method": _changed("method", "fgsm"),
    "eps": _changed("params", {**BASE["params"], "eps": 0.031}),
    "nested": _changed("params", {**BASE["params"], "norm": {"p": "inf", "layers": [1, 3]}}),
    "int_vs_float": _changed("params", {**BASE["params"], "steps": 10.0}),
    "array_value": _changed("target", BASE["target"] + np.eye(2, 3, dtype=np.float32)),
    "array_dtype": _changed("target", BASE["target"].astype(np.float64)),
    "array_shape": _changed("target", BASE["target"].reshape(3, 2)),
    "extra_part": {**BASE, "seed": 0},
}


def test_any_changed_part_is_a_miss(tmp_path):
    cache = ResultCache(tmp_path)
    compute, calls = _counted({"x": np.ones(2)}, {})
    base_key = cache_key(**BASE)
    cache.get_or_compute(base_key, compute)

    keys = {name: cache_key(**parts) for name, parts in VARIANTS.items()}
    assert base_key not in keys.values()
    assert len(set(keys.values())) == len(keys)
    for name, key in keys.items():
        before = len(calls)
        _, hit = cache.get_or_compute(key, compute)
        assert not hit and len(calls) == before + 1, name


def test_key_is_canonical_and_tracks_code_version(monkeypatch):
    key = cache_key(**BASE)
    assert key == cache_key(**dict(reversed(list(BASE.items()))))
    assert len(key) == 64 and int(key, 16) >= 0
    # A tensor keys like the array with the same dtype, shape and values.
    assert key == cache_key(**{**BASE, "target": torch.from_numpy(BASE["target"].copy())})
    # A non-contiguous view keys by its values, not its memory layout.
    assert cache_key(a=np.arange(6).reshape(2, 3).T) == cache_key(a=np.arange(6).reshape(2, 3).T.copy())
    monkeypatch.setattr(core.cache, "__version__", "999.0")
    assert cache_key(**BASE) != key


def test_unsupported_part_type_names_the_key():
    with pytest.raises(TypeError, match=r"params\.norm\.fn"):
        cache_key(params={"norm": {"fn": object()}})
    with pytest.raises(TypeError, match="where"):
        cache_key(where={1, 2})
    with pytest.raises(TypeError, match="objs"):
        cache_key(objs=np.array([object()]))


class _SideEffect:
    """Unpickling this creates a directory: proof that the cache unpickled something."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return os.mkdir, (str(self.path),)


def _corrupt(kind: str, cache: ResultCache, key: str, other_key: str, tmp_path: Path) -> None:
    raw = cache._results.get(key)
    store = diskcache.Cache(str(cache.directory / "results"))  # plain diskcache, as an outsider
    if kind == "garbage":
        store.set(key, b"\x00garbage" * 10)
    elif kind == "truncated":
        store.set(key, raw[: len(raw) // 2])
    elif kind == "bit_flip":  # still a loadable npz, with one changed value: only the checksum knows
        flipped = bytearray(raw)
        flipped[raw.index(np.arange(100, dtype=np.float64).tobytes()) + 404] ^= 0x01
        store.set(key, bytes(flipped))
    elif kind == "meta_edited":  # outside the zip's own CRCs
        store.set(key, raw.replace(b'{"n": 1}', b'{"n": 7}'))
    elif kind == "other_keys_value":
        store.set(key, cache._results.get(other_key))
    elif kind == "pickle":
        store.set(key, _SideEffect(tmp_path / "unpickled"))
    elif kind == "file_truncated":  # a large value lives in its own file
        with cache._results.get(key, read=True) as handle:
            path = handle.name
        with open(path, "r+b") as f:
            f.truncate(100)
    else:
        raise AssertionError(kind)
    store.close()


@pytest.mark.parametrize(
    "kind",
    ["garbage", "truncated", "bit_flip", "meta_edited", "other_keys_value", "pickle", "file_truncated"],
)
def test_corrupt_entry_is_recomputed_never_shown(tmp_path, kind):
    cache = ResultCache(tmp_path / "cache")
    big = kind == "file_truncated"
    arrays = {"x": np.arange(20_000 if big else 100, dtype=np.float64)}
    meta = {"n": 1}
    key, other = cache_key(k="a"), cache_key(k="b")
    cache.put(key, arrays, meta)
    cache.put(other, {"x": np.zeros(100)}, {"n": 2})
    _corrupt(kind, cache, key, other, tmp_path)

    assert cache.get(key) is None  # never the damaged value
    assert key not in cache._results  # and the damaged entry is gone
    assert not (tmp_path / "unpickled").exists()

    compute, calls = _counted(arrays, meta)
    result, hit = cache.get_or_compute(key, compute)
    assert not hit and len(calls) == 1
    _assert_same(result, arrays, meta)
    _assert_same(cache.get(key), arrays, meta)
    _assert_same(cache.get(other), {"x": np.zeros(100)}, {"n": 2})


def test_plain_python_objects_are_not_stored(tmp_path):
    cache = ResultCache(tmp_path)
    with pytest.raises(ValueError):
        cache.put(cache_key(k=1), {"o": np.array([object()])}, {})
    with pytest.raises(TypeError):
        cache._results.set("k", {"a": 1})  # the storage layer refuses to pickle
    assert len(cache) == 0


@pytest.mark.parametrize("floats", [250, 5_000])  # 2 kB values inside sqlite, 40 kB in files
def test_size_bound_keeps_recent_and_recently_used(tmp_path, floats):
    rng = np.random.default_rng(1)
    values = [rng.random(floats) for _ in range(120)]
    entry = len(core.cache._encode(cache_key(i=0), {"x": values[0]}, {"i": 0}))
    # Room for ~30 entries: diskcache evicts 10 least recently used at a time when over the limit.
    limit = 30 * entry + 64 * 1024
    cache = ResultCache(tmp_path, size_limit_bytes=limit)
    favourite = cache_key(i="favourite")
    cache.put(favourite, {"x": values[0]}, {"i": -1})

    for i, value in enumerate(values):
        cache.put(cache_key(i=i), {"x": value}, {"i": i})
        # diskcache culls right after a write that leaves it at or over the limit.
        assert cache.volume() <= limit + entry, i
        assert cache.get(favourite) is not None, i  # read every time: never least recently used

    assert 0 < len(cache) < len(values)  # eviction did happen
    assert cache.get(cache_key(i=0)) is None
    for i in range(len(values) - 5, len(values)):
        _assert_same(cache.get(cache_key(i=i)), {"x": values[i]}, {"i": i})

    cache.clear()
    assert len(cache) == 0


def test_threads_share_one_computation(tmp_path):
    cache = ResultCache(tmp_path)
    key = cache_key(k="threads")
    calls, hits = [], []
    start = threading.Barrier(6)

    def compute():
        calls.append(1)
        time.sleep(0.3)
        return {"x": np.ones(3)}, {"by": threading.get_ident()}

    def session():
        start.wait()
        result, hit = cache.get_or_compute(key, compute)
        hits.append(hit)
        np.testing.assert_array_equal(result.arrays["x"], np.ones(3))

    threads = [threading.Thread(target=session) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(calls) == 1 and sorted(hits) == [False] + [True] * 5


# ---- two processes ---------------------------------------------------------------------------

N_KEYS = 24


def _value(i: int) -> tuple[dict, dict]:
    """Deterministic content for key i; odd keys are large enough to live in their own file."""
    rng = np.random.default_rng(i)
    n = 6_000 if i % 2 else 50
    return {"x": rng.random(n), "i": np.array([i] * 3, dtype=np.int32)}, {"i": i, "n": n}


def _worker(directory: str, worker: int, start, out) -> None:
    cache = ResultCache(directory)
    shared = cache_key(k="shared-slow")
    count_file = Path(directory) / "computed.txt"

    def slow():
        with open(count_file, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(0.5)
        return {"x": np.full(4, 3.0)}, {"shared": True}

    errors = []
    start.wait(60)
    result, hit = cache.get_or_compute(shared, slow)
    if not np.array_equal(result.arrays["x"], np.full(4, 3.0)) or result.meta != {"shared": True}:
        errors.append("shared")

    order = list(range(N_KEYS)) if worker % 2 == 0 else list(reversed(range(N_KEYS)))
    for round_ in range(2):
        for i in order:
            key = cache_key(k=i)
            if (i + worker + round_) % 3 == 0:
                cache.put(key, *_value(i))  # overwrites what another process may be reading
                got = cache.get(key)
            else:
                got, _ = cache.get_or_compute(key, lambda i=i: _value(i))
            arrays, meta = _value(i)
            if got is None or got.meta != meta or any(
                not np.array_equal(got.arrays[n], a) for n, a in arrays.items()
            ):
                errors.append(i)
    out.put((worker, hit, errors))


def test_processes_writing_at_once(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    n = 3
    start, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), w, start, out)) for w in range(n)]
    for p in procs:
        p.start()
    reports = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0

    assert all(errors == [] for _, _, errors in reports), reports
    # The slow shared key was computed by exactly one process; the others waited and hit.
    assert sorted(hit for _, hit, _ in reports) == [False] + [True] * (n - 1)
    assert len((tmp_path / "computed.txt").read_text().splitlines()) == 1

    cache = ResultCache(tmp_path)
    for i in range(N_KEYS):
        _assert_same(cache.get(cache_key(k=i)), *_value(i))


def test_the_size_limit_comes_from_xadv_cache_gb_and_a_bad_value_is_named(tmp_path, monkeypatch):
    from core.errors import InputError

    monkeypatch.setenv("XADV_CACHE_GB", "0.5")
    assert ResultCache(tmp_path / "a")._results.size_limit == 1024**3 // 2
    monkeypatch.delenv("XADV_CACHE_GB")
    assert ResultCache(tmp_path / "b")._results.size_limit == 2 * 1024**3
    for bad in ("lots", "0", "-1", "nan", "inf"):
        monkeypatch.setenv("XADV_CACHE_GB", bad)
        with pytest.raises(InputError, match=f"XADV_CACHE_GB must be a number of gibibytes above 0 .*'{bad}'"):
            ResultCache(tmp_path / "c")
