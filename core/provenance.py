"""Where a written result comes from: the model, its weights and hierarchy, the device, the package
versions and the time, so a results file read later says what made it."""
from __future__ import annotations

import platform
from contextvars import ContextVar
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import torch

PACKAGES = ("xadv", "torch", "torchvision", "zennit", "numpy")

#: The cluster the results being made run on (``core.studies.cluster.session`` sets it): nodes, workers, devices.
ran_on: ContextVar[dict[str, Any] | None] = ContextVar("xadv_ran_on", default=None)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def provenance(info, device: torch.device | str) -> dict[str, Any]:
    """The record for a result made with the model ``info`` (``ModelInfo``) on ``device`` (and the cluster,
    inside a ``core.studies.cluster.session``)."""
    hierarchy = info.hierarchy
    cluster = ran_on.get()
    return {
        "model": info.model_id, "model_name": info.name, "weights": info.weights_source,
        "hierarchy": None if hierarchy is None else {"name": hierarchy.name, "digest": hierarchy.digest},
        "device": str(device), "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": {"python": platform.python_version()} | {p: _version(p) for p in PACKAGES},
    } | ({} if cluster is None else {"cluster": cluster})
