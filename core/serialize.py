"""Strict JSON for reports: non-finite floats (an l_inf norm order, an empty mean) become strings."""
from __future__ import annotations

import json
import math
from typing import Any


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its name ("inf", "-inf", "nan")."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def dumps(value: Any, indent: int | None = 1) -> str:
    """``json.dumps`` of ``json_safe(value)``, refusing anything that is still not strict JSON."""
    return json.dumps(json_safe(value), indent=indent, allow_nan=False)
