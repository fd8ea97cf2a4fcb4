"""Widgets for the explainers' parameters (their defaults come from core), and the captions that name
the parameters a result depends on."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from core.explain import COMPOSITES
from core.explain.explanation import method_defaults
from core.explain.gradients import BASELINES, SHAP_BASELINES
from core.explain.lrp import INITS
from core.explain.rules import SIGNED_INPUTS

METHOD_LABELS = {
    "lrp": "LRP",
    "saliency": "Saliency",
    "integrated_gradients": "Integrated gradients",
    "deeplift_shap": "DeepLIFT SHAP",
}

_IG_RULES = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")
_EPSILONS = (1e-9, 1e-6, 1e-3, 1e-2, 0.1, 0.25, 1.0)


def _select(label: str, options: Sequence, help: str | None = None):
    def widget(default, key):
        opts = list(options)
        return st.selectbox(label, opts, index=opts.index(default) if default in opts else 0, key=key, help=help)
    return widget


def _slider(label: str, lo: int, hi: int, default: int | None = None, help: str | None = None):
    def widget(core_default, key):
        value = default if default is not None else min(max(core_default, lo), hi)
        return st.slider(label, lo, hi, value, key=key, help=help)
    return widget


#: Widgets for the explainers' parameters (values from core); anything not listed gets one by type.
PARAM_WIDGETS: dict[str, dict[str, Callable[[Any, str], Any]]] = {
    "lrp": {
        "composite": _select("Composite", COMPOSITES,
                             "Rules per layer. epsilon_plus_flat: flat at the input, z+ in convolutions, epsilon in "
                             "dense layers. epsilon_gamma_box: ZBox, gamma, epsilon. zplus_zbox: the LRP poster's "
                             "z+ everywhere with z-beta (ZBox) at the input."),
        "signed_inputs": _select("z+ on signed inputs", SIGNED_INPUTS,
                                 "zplus_zbox only: how z+ treats hidden-layer inputs that can be negative "
                                 "(EfficientNet's linear bottlenecks). split (zennit): a+ w+ and a- w- count as "
                                 "positive contributions. as_written: the poster's formula a w+ taken literally; "
                                 "its denominators then come near zero (on EfficientNet-Lite0 the maps turn to "
                                 "noise)."),
        "init": _select("Output relevance", INITS,
                        "onehot: R = 1 at the target class. logit: R = the target logit, so the map sums to it."),
        "epsilon": lambda default, key: st.select_slider(
            "epsilon", _EPSILONS, value=default if default in _EPSILONS else _EPSILONS[1], key=key,
            format_func=lambda v: f"{v:g}", help="Stabiliser of the epsilon rule (epsilon_* composites)."),
        "gamma": lambda default, key: st.slider(
            "gamma", 0.0, 1.0, float(default), 0.05, key=key, help="Weight of positive contributions "
            "(epsilon_gamma_box only)."),
    },
    "saliency": {
        "abs": lambda default, key: st.checkbox(
            "Absolute gradient", bool(default), key=key,
            help="|df/dx| (Simonyan et al.); untick for the signed gradient."),
    },
    "integrated_gradients": {
        "baseline": _select("Baseline", BASELINES,
                            "The reference image x' the path starts from ('uniform': seeded noise)."),
        "n_steps": _slider("Steps", 8, 128, 32, "Points on the path from the baseline to the image; more is "
                           "more exact and slower."),
        "method": _select("Integration rule", _IG_RULES),
        "seed": lambda default, key: st.number_input(
            "Seed", 0, 2**31 - 1, int(default), key=key, help="For the 'uniform' baseline."),
    },
    "deeplift_shap": {
        "baselines": _select("Baselines", SHAP_BASELINES,
                             "Reference images averaged over: a black and a white image, or seeded uniform noise."),
        "n_baselines": _slider("Noise baselines", 1, 32, None, "How many noise images ('uniform' only)."),
        "seed": lambda default, key: st.number_input(
            "Seed", 0, 2**31 - 1, int(default), key=key, help="For the 'uniform' baselines."),
    },
}


def _by_type(name: str, default: Any, key: str) -> Any:
    if isinstance(default, bool):
        return st.checkbox(name, default, key=key)
    if isinstance(default, int):
        return int(st.number_input(name, value=default, step=1, key=key))
    if isinstance(default, float):
        return float(st.number_input(name, value=default, format="%g", key=key))
    if isinstance(default, str):
        return st.text_input(name, default, key=key)
    return default  # None and other defaults stay as core chooses them


def method_params(method: str, *, key: str) -> dict[str, Any]:
    """Widgets for every parameter of ``method`` (from ``method_defaults``); returns name -> value."""
    widgets = PARAM_WIDGETS.get(method, {})
    values = {}
    for name, default in method_defaults(method).items():
        widget = widgets.get(name)
        widget_key = f"{key}_{method}_{name}"
        values[name] = widget(default, widget_key) if widget else _by_type(name, default, widget_key)
    return values


def relevant_params(method: str, params: dict[str, Any]) -> list[str]:
    """The parameters that change ``method``'s result with these settings (for captions)."""
    if method == "lrp":
        names = ["composite", "init"]
        if params.get("composite") == "zplus_zbox":
            names.append("signed_inputs")
        if params.get("composite", "").startswith("epsilon"):
            names.append("epsilon")
        if params.get("composite") == "epsilon_gamma_box":
            names.append("gamma")
        return names
    if method == "integrated_gradients":
        return ["baseline", "n_steps", "method"] + (["seed"] if params.get("baseline") == "uniform" else [])
    if method == "deeplift_shap":
        return ["baselines"] + (["n_baselines", "seed"] if params.get("baselines") == "uniform" else [])
    return [n for n, v in params.items() if v is not None]


def params_summary(params: dict[str, Any], shown: Sequence[str] | None = None) -> str:
    """``name=value`` pairs, compact (floats in short form), ``None`` values left out."""
    parts = []
    for name, value in params.items():
        if value is None or (shown is not None and name not in shown):
            continue
        parts.append(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}")
    return ", ".join(parts)
