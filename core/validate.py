"""Checks of what callers hand to explainers, attacks and studies: one check per kind of argument
(inputs, labels, counts, numbers, names), each raising an ``InputError`` that says what to change."""
from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

import torch
from torch import nn

from core.errors import InputError

Bound = float | torch.Tensor | None  # a range's end: one number, one per feature (broadcast), or none


def has_json_type(value: object, kinds: tuple[type, ...]) -> bool:
    """Whether a value read from JSON has one of ``kinds`` (``type(None)`` for null). A boolean is no
    number here, as in JSON, although Python's ``bool`` is an ``int``."""
    return any(value is None if kind is type(None) else isinstance(value, kind) and (
        kind is bool or not isinstance(value, bool)) for kind in kinds)


def check_choice(what: str, value: object, known: Sequence[str]) -> None:
    """A clear error when ``value`` is not one of the ``known`` names of ``what``."""
    if value not in known:
        raise InputError(f"Unknown {what} {value!r}; choose one of {', '.join(known)}.")


def check_count(what: str, value: object, minimum: int = 0) -> int:
    """``value`` is a whole number (an int, not a bool or a float such as 1.5) of at least ``minimum``;
    returns it as an int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InputError(f"{what} must be a whole number of at least {minimum}, got {value!r}.")
    return int(value)


def check_number(what: str, value: object, rule: str, ok: Callable[[float], bool]) -> float:
    """``value`` is a real number (not a bool, a string or NaN; a 0-d tensor holding one counts) for which
    ``ok`` holds; ``rule`` says in words what ``ok`` asks ("in [0, 1]", "positive and finite"). Returns
    it as a float."""
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not (value.dtype == torch.bool or value.is_complex()):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{what} must be a number {rule}, got {value!r} (a {type(value).__name__}).")
    if not ok(float(value)):  # NaN fails every comparison of ``ok``
        raise InputError(f"{what} must be {rule}, got {value!r}.")
    return float(value)


def check_labels(what: str, labels: object, n: int, classes: int) -> torch.Tensor:
    """One class index per input: integers (a tensor or a sequence) of length ``n``, each in
    0..classes-1. Returns them as a long tensor."""
    try:
        t = labels if isinstance(labels, torch.Tensor) else torch.as_tensor(labels)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"The {what} must be class indices (integers), one per input; got {labels!r}.") from exc
    if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
        raise InputError(f"The {what} must be class indices (integers), one per input; got {t.dtype} values.")
    if t.shape != (n,):
        raise InputError(f"Give one of the {what} per input: {n} inputs, got shape {tuple(t.shape)}.")
    outside = (t < 0) | (t >= classes)
    if bool(outside.any()):
        i = int(outside.nonzero()[0])
        raise InputError(f"The {what} must lie in 0..{classes - 1} (the model has {classes} classes); "
                         f"input {i} has {int(t[i])}.")
    return t.long()


def check_inputs(x: torch.Tensor, low: Bound = 0.0, high: Bound = 1.0, *, noun: str = "value",
                 advice: str = "") -> None:
    """A float batch (N, ...) of any rank with at least one value, finite, within ``[low, high]``
    (each a number, a tensor broadcast over one input, e.g. per-feature ranges, or None: unbounded).
    ``noun`` names the values in messages ("pixel"); ``advice`` follows the range message."""
    if not isinstance(x, torch.Tensor) or x.dim() < 1 or not x.is_floating_point():
        raise InputError("Expected a float tensor shaped (N, ...), one row per input.")
    if x.numel() == 0:
        raise InputError(f"The batch holds no {noun}s (shape {tuple(x.shape)}): give at least one input.")
    scalar = not any(isinstance(b, torch.Tensor) for b in (low, high))
    least_allowed = -torch.inf if low is None else low
    most_allowed = torch.inf if high is None else high
    if scalar:  # one pass; NaN and infinities fail the comparisons or the finiteness of the extremes
        least, most = torch.aminmax(x)
        ok = (least >= least_allowed) & (most <= most_allowed) & torch.isfinite(least) & torch.isfinite(most)
    else:
        ok = torch.isfinite(x).all() & (x >= _on(least_allowed, x)).all() & (x <= _on(most_allowed, x)).all()
    if bool(ok):
        return
    if not bool(torch.isfinite(x).all()):
        raise InputError(f"The {noun}s contain NaN or infinite values.")
    where = "their ranges" if not scalar else f"[{_end(low, '-inf')}, {_end(high, 'inf')}]"
    raise InputError(f"{noun.capitalize()} values must lie in {where}{advice}.")


def _end(bound: Bound, unbounded: str) -> str:
    return unbounded if bound is None else f"{bound:g}"


def _on(bound: float | torch.Tensor, x: torch.Tensor) -> float | torch.Tensor:
    return bound.to(x) if isinstance(bound, torch.Tensor) else bound


def check_images(x: torch.Tensor) -> None:
    """A float batch (N, C, H, W) of finite pixels in [0, 1] (``check_inputs`` for images)."""
    if isinstance(x, torch.Tensor) and x.dim() != 4:
        raise InputError("Expected a float tensor of images shaped (N, C, H, W).")
    check_inputs(x, 0.0, 1.0, noun="pixel", advice=" (models normalise internally)")


def check_on_model(model: nn.Module, x: torch.Tensor) -> None:
    """``x`` on the device and in the float type of ``model``'s parameters."""
    param = next((p for p in model.parameters() if p.is_floating_point()), None)
    if param is not None and (x.device != param.device or x.dtype != param.dtype):
        raise InputError(f"The inputs are {x.dtype} on {x.device}, the model's weights {param.dtype} on "
                         f"{param.device}: give them as x.to({param.device.type!r}, {param.dtype}).")


def check_images_for(model: nn.Module, x: torch.Tensor) -> None:
    """``check_images``, and ``x`` on the device and in the float type of ``model``'s parameters."""
    check_images(x)
    check_on_model(model, x)


def check_model_outputs(bad: torch.Tensor, rows: torch.Tensor | None = None,
                        what: str = "The model gives NaN or infinite outputs", advice: str = "") -> None:
    """A clear error naming the images where ``bad`` (n,) is True (``rows``: their places in the batch):
    by default, the model gives NaN or infinite outputs there, and an attack would move nothing, or
    everything; ``what`` says what went wrong instead, ``advice`` what to change."""
    if bool(bad.any()):  # one synchronisation
        where = bad.nonzero().squeeze(1) if rows is None else rows[bad]
        shown = ", ".join(str(i) for i in where[:10].tolist())
        raise InputError(f"{what} for image(s) {shown} of the batch (counting from 0).{advice}")
