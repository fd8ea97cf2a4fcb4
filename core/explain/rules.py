"""The LRP poster's rules as zennit hooks whose relevance step is written with explicit transposed
operations, so that differentiating the relevance (attacks, ``create_graph``) needs only first-order
backward passes of convolutions.

zennit's own rules obtain ``c = W^T s`` as an autograd gradient of a modified forward pass; with
``create_graph`` the attack's second backward then runs convolution double-backward, which PyTorch
computes one group at a time for depthwise convolutions (EfficientNet: thousands of small convolutions
per layer). Here ``W^T s`` is ``conv_transpose2d`` (or ``s @ W`` for dense layers), whose own
derivative is an ordinary convolution. Relevance values are identical to zennit's ``ZPlus`` and
``ZBox`` (tests compare them):

- z+ : ``z = W^+ x^+ + W^- x^- (+ b^+)``, ``R_in = x^+ (W^+)^T (R/z) + x^- (W^-)^T (R/z)``
- z-beta (ZBox): ``z = W x - W^+ l - W^- h``, ``R_in = x W^T s - l (W^+)^T s - h (W^-)^T s``, ``s = R/z``.
- z (parameter-free sums and average pools): ``R_in = x A^T (R / A x)``.
Hidden layers of other types (Conv1d, Conv3d, ...) fall back to zennit's rules. Written explicitly,
the rules also run inside a batched backward (``is_grads_batched``: several output relevances from one
forward pass), where zennit's own rules would not build the graph that the attacks differentiate.
"""
from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn
from zennit.core import Hook, Stabilizer
from zennit.layer import Sum

from core.errors import UnsupportedError
from core.explain.bounds import fit_bound


def _forward(module: nn.Module, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    if isinstance(module, nn.Conv2d):
        return F.conv2d(x, weight, None, module.stride, module.padding, module.dilation, module.groups)
    return F.linear(x, weight)


def _pointwise(module: nn.Conv2d) -> bool:
    return (module.kernel_size == (1, 1) and module.stride == (1, 1) and module.padding == (0, 0)
            and module.groups == 1)


def _transpose(module: nn.Module, s: torch.Tensor, weight: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``W^T s``: the adjoint of the layer's linear map, shaped like its input."""
    if isinstance(module, nn.Conv2d) and _pointwise(module):  # 1x1: the adjoint is a 1x1 convolution
        return F.conv2d(s, weight.transpose(0, 1))
    if isinstance(module, nn.Conv2d):
        natural = [(o - 1) * st - 2 * p + d * (k - 1) + 1 for o, st, p, d, k in
                   zip(s.shape[2:], module.stride, module.padding, module.dilation, weight.shape[2:])]
        extra = [size - n for size, n in zip(shape[2:], natural)]
        return F.conv_transpose2d(s, weight, None, module.stride, module.padding, extra, module.groups,
                                  module.dilation)
    return s @ weight


EXPLICIT_TYPES = (nn.Conv2d, nn.Linear)


def _check(module: nn.Module) -> None:
    if isinstance(module, nn.Conv2d) and (module.padding_mode != "zeros" or isinstance(module.padding, str)):
        raise UnsupportedError(f"LRP here needs zero padding given as numbers; {module} has another padding.")


class _ExplicitRule(Hook):
    def __init__(self, stabilizer=1e-6):
        super().__init__()
        self.stabilize = Stabilizer.ensure(stabilizer)

    def forward(self, module, input, output):
        self.stored_tensors["input"] = input

    def copy(self):
        return self.__class__(**self.config)


class ExplicitZPlus(_ExplicitRule):
    """The z+ rule (zennit's ``ZPlus``); ``zero_bias`` leaves the bias out of the denominator."""

    def __init__(self, stabilizer=1e-6, zero_bias: bool = False):
        super().__init__(stabilizer)
        self.config = {"stabilizer": stabilizer, "zero_bias": zero_bias}

    def backward(self, module, grad_input, grad_output):
        _check(module)
        x = self.stored_tensors["input"][0]
        relevance = grad_output[0]
        w = module.weight.detach()
        w_pos = w.clamp(min=0)
        # after a ReLU the x^- terms vanish; skip them where looking is free (CPU), on an accelerator
        # computing a zero branch is cheaper than synchronising to look
        signed = x.device.type != "cpu" or bool(x.min() < 0)
        x_pos = x.clamp(min=0) if signed else x
        z = _forward(module, x_pos, w_pos)
        if signed:
            x_neg, w_neg = x.clamp(max=0), w.clamp(max=0)
            z = z + _forward(module, x_neg, w_neg)
        if module.bias is not None and not self.config["zero_bias"]:  # zennit keeps the positive bias
            z = z + module.bias.detach().clamp(min=0).view(1, -1, *([1] * (z.dim() - 2)))
        s = relevance / (z + self.config["stabilizer"])  # z >= 0 here: zennit's stabiliser adds +epsilon
        out = x_pos * _transpose(module, s, w_pos, x.shape)
        if signed:
            out = out + x_neg * _transpose(module, s, w_neg, x.shape)
        return tuple(out if g is not None and g.shape == out.shape else None for g in grad_input)


class ExplicitZBox(_ExplicitRule):
    """The z-beta rule (zennit's ``ZBox``) with per-channel bounds fitted to the layer's input."""

    def __init__(self, low: torch.Tensor, high: torch.Tensor, stabilizer=1e-6):
        super().__init__(stabilizer)
        self.config = {"low": low, "high": high, "stabilizer": stabilizer}

    def backward(self, module, grad_input, grad_output):
        _check(module)
        x = self.stored_tensors["input"][0]
        relevance = grad_output[0]
        low, high = fit_bound(self.config["low"], x), fit_bound(self.config["high"], x)
        w = module.weight.detach()
        w_pos, w_neg = w.clamp(min=0), w.clamp(max=0)
        z = _forward(module, x, w) - _forward(module, low, w_pos) - _forward(module, high, w_neg)
        s = relevance / self.stabilize(z)
        out = (x * _transpose(module, s, w, x.shape) - low * _transpose(module, s, w_pos, x.shape)
               - high * _transpose(module, s, w_neg, x.shape))
        return tuple(out if g is not None and g.shape == out.shape else None for g in grad_input)


class ExplicitNorm(_ExplicitRule):
    """The z-rule of parameter-free linear layers (zennit's ``Norm``): ``R_in = x A^T (R / A x)`` for
    ``A`` a residual ``Sum`` or a 2-D average pooling (adaptive or fixed windows)."""

    def __init__(self, stabilizer=1e-6):
        super().__init__(stabilizer)
        self.config = {"stabilizer": stabilizer}

    def backward(self, module, grad_input, grad_output):
        x = self.stored_tensors["input"][0]
        s = grad_output[0] / self.stabilize(module.forward(x))  # .forward: not through the hooks
        out = x * _pool_or_sum_adjoint(module, s, x.shape)
        return tuple(out if g is not None and g.shape == out.shape else None for g in grad_input)


def _pool_or_sum_adjoint(module: nn.Module, s: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``A^T s`` for a residual ``Sum`` (copy to each summand) or an average pool, ``A x = P_h x P_w^T``."""
    if isinstance(module, Sum):
        return s.unsqueeze(module.dim).expand(shape)
    windows = _windows(module)
    rows = _averaging_matrix(*windows[0], shape[-2], s.shape[-2], s.device, s.dtype)
    cols = _averaging_matrix(*windows[1], shape[-1], s.shape[-1], s.device, s.dtype)
    return rows.transpose(0, 1) @ s @ cols  # matmul (not einsum): it also runs in a batched backward


def _windows(module: nn.Module) -> tuple[tuple, tuple]:
    """Per axis: ("adaptive",) or ("fixed", kernel, stride, padding)."""
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return ("adaptive",), ("adaptive",)
    if module.ceil_mode or not module.count_include_pad or module.divisor_override:
        raise UnsupportedError(f"LRP here supports plain average pooling; got {module}.")
    pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
    k, st, p = pair(module.kernel_size), pair(module.stride), pair(module.padding)
    return ("fixed", k[0], st[0], p[0]), ("fixed", k[1], st[1], p[1])


@lru_cache(maxsize=64)
def _averaging_matrix(kind: str, *args) -> torch.Tensor:
    """``P`` (out, size): row i averages the inputs of window i along one axis (built once per shape)."""
    *window, size, out, device, dtype = args
    if kind == "adaptive":
        starts = [(i * size) // out for i in range(out)]
        ends = [-((-(i + 1) * size) // out) for i in range(out)]
        divisors = [e - b for b, e in zip(starts, ends)]
    else:
        kernel, stride, pad = window
        starts = [i * stride - pad for i in range(out)]
        ends = [b + kernel for b in starts]
        divisors = [kernel] * out
    matrix = torch.zeros(out, size, dtype=dtype)
    for i, (b, e, d) in enumerate(zip(starts, ends, divisors)):
        matrix[i, max(b, 0):min(e, size)] = 1.0 / d
    return matrix.to(device)


NORM_TYPES = (Sum, nn.AdaptiveAvgPool2d, nn.AvgPool2d)
