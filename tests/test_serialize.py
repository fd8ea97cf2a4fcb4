"""Strict JSON for reports."""
import json
import math

import pytest

from core.serialize import dumps, json_safe


def test_non_finite_floats_become_strings_and_the_output_is_strict_json():
    report = {"p": math.inf, "values": [1.5, -math.inf, (math.nan, 2)], "nested": {"ok": 0.25}}
    text = dumps(report)
    def refuse(constant):
        raise ValueError(constant)
    parsed = json.loads(text, parse_constant=refuse)  # strict: no Infinity / NaN tokens
    assert parsed == {"p": "inf", "values": [1.5, "-inf", ["nan", 2]], "nested": {"ok": 0.25}}
    assert json_safe(report)["nested"] is not report["nested"]  # a copy; the input is left alone
    assert report["p"] == math.inf
    with pytest.raises(TypeError):
        dumps({"bad": object()})
