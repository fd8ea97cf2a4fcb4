"""Persistent result cache: named numpy arrays plus JSON metadata, stored on disk.

Entries live in a size-bounded :mod:`diskcache` store (sqlite plus files, safe across threads and
processes) under ``XADV_CACHE_DIR`` or ``~/.cache/xadv``, of at most ``XADV_CACHE_GB`` gibibytes
(default 2; a C2F table of hundreds of ImageNet photos at both levels needs about 3). A key is the
sha256 of everything that determines a result (see :func:`cache_key`), the code version included.
Nothing is pickled: a value is bytes, ``MAGIC | sha256 | len(meta) | meta JSON | npz archive``, and the
checksum also covers the key, so a damaged or misplaced entry is deleted and recomputed instead of
being shown.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import struct
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, is_dataclass
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

import diskcache
import numpy as np
import torch

from core import __version__
from core.errors import InputError

__all__ = ["CachedResult", "ResultCache", "cache_key"]

_MAGIC = b"XADVCACHE1\n"
_DIGEST_SIZE = 32
_LEN = struct.Struct(">Q")


def cache_key(**parts: Any) -> str:
    """sha256 hex of ``parts`` and the code version, encoded canonically.

    Values may be None, bool, int, float, str, lists/tuples, dicts with str keys, bytes, numpy
    arrays/scalars, torch tensors (arrays and tensors by dtype, shape and content) and dataclass
    records of these (by type name and fields). Any other
    type raises ``TypeError`` naming where it sits, e.g. ``params.layers[1]``.
    """
    doc = {"version": __version__, "parts": _canonical(parts, "")}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _canonical(value: Any, where: str) -> Any:
    """A JSON tree tagged by type, so that e.g. 1, 1.0, True, "1" and b"1" all differ."""
    if value is None:
        return ["none"]
    if isinstance(value, (bool, np.bool_)):
        return ["bool", bool(value)]
    if isinstance(value, (int, np.integer)):
        return ["int", int(value)]
    if isinstance(value, (float, np.floating)):
        value = float(value)
        # repr round-trips every finite float exactly; nan/inf are spelled out for strict JSON.
        return ["float", repr(value) if math.isfinite(value) else str(value)]
    if isinstance(value, str):
        return ["str", value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ["bytes", hashlib.sha256(bytes(value)).hexdigest()]
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds it exactly
            return ["tensor-bfloat16", _canonical(tensor.float().numpy(), where)]
        value = tensor.numpy()
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError(f"cache_key: part {where or '<root>'!r} is an object array; "
                            "its bytes are pointers, not content")
        descr = np.lib.format.dtype_to_descr(value.dtype)
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return ["ndarray", str(descr), list(value.shape), digest]
    if isinstance(value, (list, tuple)):
        return ["list", [_canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]]
    if isinstance(value, Mapping):
        items = []
        for k in sorted(value, key=lambda k: (not isinstance(k, str), str(k))):
            if not isinstance(k, str):
                raise TypeError(f"cache_key: part {where or '<root>'!r} has a non-str key {k!r}")
            items.append([k, _canonical(value[k], f"{where}.{k}" if where else k)])
        return ["dict", items]
    if is_dataclass(value) and not isinstance(value, type):  # a settings record (LRPRules): its type and fields
        fields = {f.name: getattr(value, f.name) for f in dataclass_fields(value)}
        return ["record", type(value).__name__, _canonical(fields, where)]
    raise TypeError(f"cache_key: part {where or '<root>'!r} has unsupported type "
                    f"{type(value).__name__}; pass str, numbers, bytes, arrays or tensors")


@dataclass(frozen=True)
class CachedResult:
    """One cached result: named arrays and JSON-compatible metadata."""

    arrays: dict[str, np.ndarray]
    meta: dict


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cache meta: {type(obj).__name__} is not JSON serialisable")


def _encode(key: str, arrays: Mapping[str, np.ndarray], meta: Mapping) -> bytes:
    if not isinstance(meta, Mapping):
        raise TypeError(f"cache meta must be a dict, got {type(meta).__name__}")
    meta_bytes = json.dumps(dict(meta), default=_json_default, sort_keys=True).encode("utf-8")
    buf = io.BytesIO()
    # The layout np.savez writes (one .npy per array in a zip), built directly so that any array
    # name is allowed; allow_pickle=False refuses object arrays.
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"cache array names must be non-empty str, got {name!r}")
            with archive.open(name + ".npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asarray(array), allow_pickle=False)
    body = _LEN.pack(len(meta_bytes)) + meta_bytes + buf.getvalue()
    return _MAGIC + _digest(key, body) + body


def _digest(key: str, body: bytes) -> bytes:
    h = hashlib.sha256(_MAGIC)
    h.update(key.encode("utf-8") + b"\0")
    h.update(body)
    return h.digest()


def _decode(key: str, raw: Any) -> CachedResult:
    """Parse a stored value; raise ValueError on anything unexpected."""
    if not isinstance(raw, bytes) or not raw.startswith(_MAGIC):
        raise ValueError("not a cache value")
    head = len(_MAGIC) + _DIGEST_SIZE
    digest, body = raw[len(_MAGIC):head], raw[head:]
    if len(digest) != _DIGEST_SIZE or digest != _digest(key, body):
        raise ValueError("checksum mismatch")
    (meta_len,) = _LEN.unpack_from(body)
    meta = json.loads(body[_LEN.size:_LEN.size + meta_len].decode("utf-8"))
    if not isinstance(meta, dict):
        raise ValueError("meta is not a dict")
    with np.load(io.BytesIO(body[_LEN.size + meta_len:]), allow_pickle=False) as npz:
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("not an npz archive")
        arrays = {name: npz[name] for name in npz.files}
    return CachedResult(arrays=arrays, meta=meta)


class _NoPickleDisk(diskcache.Disk):
    """diskcache storage that never pickles: values must be bytes/str/int/float."""

    def store(self, value, read, key=diskcache.core.UNKNOWN):
        if not read and type(value) not in (bytes, str, int, float):
            raise TypeError(f"cache values must be bytes, not {type(value).__name__}")
        return super().store(value, read, key=key)

    def fetch(self, mode, filename, value, read):
        if mode == diskcache.core.MODE_PICKLE:
            return b""  # never unpickle what is on disk; reads as a corrupt entry
        return super().fetch(mode, filename, value, read)


DEFAULT_GB = 2.0


def default_size_limit() -> int:
    """The cache's size in bytes: ``$XADV_CACHE_GB`` gibibytes if set (a number above 0), else ``DEFAULT_GB``."""
    env = os.environ.get("XADV_CACHE_GB")
    if not env:
        return int(DEFAULT_GB * 1024**3)
    try:
        gb = float(env)
    except ValueError:
        gb = math.nan
    if not (math.isfinite(gb) and gb > 0):
        raise InputError(f"XADV_CACHE_GB must be a number of gibibytes above 0 (e.g. 4), not {env!r}.")
    return int(gb * 1024**3)


def default_directory() -> Path:
    """``$XADV_CACHE_DIR`` if set, else ``~/.cache/xadv``."""
    env = os.environ.get("XADV_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "xadv"


class ResultCache:
    """Size-bounded persistent cache of results, shared by threads and processes.

    A write that leaves the store at or over ``size_limit_bytes`` (default: ``default_size_limit()``)
    evicts the 10 least recently used entries (diskcache's cull), so the volume overshoots by at most
    about one entry and the limit should hold many more than 10 entries.
    """

    #: A lock whose holder died is taken over after this many seconds (the cost: a recompute).
    lock_expire_s: float = 600.0

    def __init__(self, directory: str | Path | None = None,
                 size_limit_bytes: int | None = None) -> None:
        self.directory = Path(directory).expanduser() if directory is not None else default_directory()
        self._results = diskcache.Cache(str(self.directory / "results"), disk=_NoPickleDisk,
                                        size_limit=int(size_limit_bytes or default_size_limit()),
                                        eviction_policy="least-recently-used")
        self._locks = diskcache.Cache(str(self.directory / "locks"), disk=_NoPickleDisk,
                                      eviction_policy="none")

    def get(self, key: str) -> CachedResult | None:
        """The entry for ``key``, or None if absent or corrupt (a corrupt one is deleted)."""
        raw = self._results.get(key, default=None, retry=True)
        if raw is None:
            return None
        try:
            return _decode(key, raw)
        except Exception:  # any decode failure means a damaged entry: drop it, report a miss
            self._results.delete(key, retry=True)
            return None

    def __contains__(self, key: str) -> bool:
        """Whether an entry is stored under ``key`` (not decoded: ``get`` may still find it damaged)."""
        return key in self._results

    def put(self, key: str, arrays: Mapping[str, np.ndarray], meta: Mapping) -> None:
        """Store ``arrays`` and ``meta`` under ``key``, replacing any previous entry."""
        self._store(key, arrays, meta)

    def _store(self, key: str, arrays: Mapping[str, np.ndarray], meta: Mapping) -> CachedResult:
        raw = _encode(key, arrays, meta)
        self._results.set(key, raw, retry=True)
        return _decode(key, raw)  # what a later hit returns (meta after its JSON round trip)

    def get_or_compute(
        self, key: str, compute: Callable[[], tuple[Mapping[str, np.ndarray], Mapping]]
    ) -> tuple[CachedResult, bool]:
        """The cached entry and True, or ``compute()``'s result, stored, and False.

        Concurrent callers with the same key wait on a per-key lock, so the work runs once.
        """
        found = self.get(key)
        if found is not None:
            return found, True
        with self._lock(key):
            found = self.get(key)
            if found is not None:
                return found, True
            arrays, meta = compute()
            return self._store(key, arrays, meta), False

    @contextlib.contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        name, token = f"lock:{key}", uuid.uuid4().hex
        delay = 0.001
        while not self._locks.add(name, token, expire=self.lock_expire_s, retry=True):
            time.sleep(delay)
            delay = min(2 * delay, 0.05)
        try:
            yield
        finally:
            with self._locks.transact(retry=True):  # release only our own (maybe expired) lock
                if self._locks.get(name) == token:
                    self._locks.delete(name)

    def clear(self) -> None:
        """Remove every entry."""
        self._results.clear(retry=True)

    def volume(self) -> int:
        """Estimated bytes on disk used by the entries (sqlite pages plus value files)."""
        return self._results.volume()

    def __len__(self) -> int:
        return len(self._results)

    def close(self) -> None:
        """Close the underlying database connections (the cache reopens them on use)."""
        self._results.close()
        self._locks.close()
