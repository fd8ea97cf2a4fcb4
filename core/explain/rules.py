"""The LRP poster's rules written with explicit transposed operations, as functions of a layer's
input ``x`` (N, ...) and T output relevances ``R`` (T, N, ...) (used by the graph engine,
``lrp_graph``) and as zennit hooks (``Explicit*``, one map), so that differentiating the relevance
(attacks) needs only first-order backward passes of convolutions.

zennit's own rules obtain ``c = W^T s`` as an autograd gradient of a modified forward pass; with
``create_graph`` the attack's second backward then runs convolution double-backward, which PyTorch
computes one group at a time for depthwise convolutions (EfficientNet: thousands of small convolutions
per layer). Here ``W^T s`` is ``conv_transpose2d`` (a flipped depthwise convolution, ``s @ W`` for
dense layers), whose own derivative is an ordinary convolution; z+, in every hidden layer, has its
derivative written out (``_ZPlus``). Relevance values are identical to zennit's ``ZPlus``, ``ZBox``
and ``Norm`` (tests compare them):

- z+ : ``z = W^+ x^+ + W^- x^- (+ b^+)``, ``R_in = x^+ (W^+)^T (R/z) + x^- (W^-)^T (R/z)`` (or, taking
  the poster's formula literally for signed inputs, ``z = W^+ x (+ b^+)``, ``R_in = x (W^+)^T (R/z)``: ``zplus``)
- z-beta (ZBox): ``z = W x - W^+ l - W^- h``, ``R_in = x W^T s - l (W^+)^T s - h (W^-)^T s``, ``s = R/z``.
- z (parameter-free sums and average pools): ``R_in = x A^T (R / A x)``.
Hidden layers of other types (Conv1d, Conv3d, ...) fall back to zennit's rules.
"""
from __future__ import annotations

import copy
import weakref
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cached_property, lru_cache

import torch
import torch.nn.functional as F
from torch import nn
from zennit.core import Hook, Stabilizer
from zennit.layer import Sum
from zennit.types import Linear as LinearTypes

from core.errors import UnsupportedError
from core.validate import check_choice


def _adjoint_kind(module: nn.Module) -> str:
    """How ``W^T s`` is computed: "pointwise" (1x1: a 1x1 convolution with W transposed), "depthwise"
    (unstrided: the same depthwise convolution with the kernel flipped, faster on CPUs than a grouped
    transposed convolution), "transposed" (``conv_transpose2d``) or "dense" (``s @ W``)."""
    if not isinstance(module, nn.Conv2d):
        return "dense"
    if (module.kernel_size == (1, 1) and module.stride == (1, 1) and module.padding == (0, 0)
            and module.groups == 1):
        return "pointwise"
    if (module.groups == module.in_channels == module.out_channels and module.stride == (1, 1)
            and all(d * (k - 1) >= p for d, k, p in zip(module.dilation, module.kernel_size, module.padding))):
        return "depthwise"
    return "transposed"


@dataclass(frozen=True)
class Kernel:
    """A weight for the layer's linear map (``weight``) and, made on first use, the same weight laid out
    for its adjoint ``W^T`` (``adjoint``: transposed for 1x1 convolutions, flipped for depthwise ones)."""

    weight: torch.Tensor
    kind: str  # _adjoint_kind of the layer

    @cached_property
    def adjoint(self) -> torch.Tensor:
        if self.kind == "pointwise":
            return self.weight.transpose(0, 1).contiguous()
        if self.kind == "depthwise":
            return self.weight.flip(2, 3)
        return self.weight


_fixed_kernels: ContextVar[weakref.WeakKeyDictionary[nn.Module, dict[str, object]] | None] = ContextVar(
    "fixed_kernels", default=None)


@contextmanager
def fixed_weights():
    """Within the block the layers' weights are constant (attacks run many LRP passes on a locked model):
    each layer's kernels are prepared on first use and kept until the block ends."""
    token = _fixed_kernels.set(weakref.WeakKeyDictionary())
    try:
        yield
    finally:
        _fixed_kernels.reset(token)


def _kept(module: nn.Module, part: str, make):
    """``make()``, made once per module and part for the rest of a ``fixed_weights`` block."""
    cache = _fixed_kernels.get()
    kept = cache.setdefault(module, {}) if cache is not None else {}
    if part not in kept:
        kept[part] = make()
    return kept[part]


def kernel(module: nn.Module, part: str) -> Kernel:
    """The layer's weight ``W`` (``part="all"``), ``W^+`` ("pos") or ``W^-`` ("neg"); kept for the rest
    of a ``fixed_weights`` block."""
    def make() -> Kernel:
        w = module.weight.detach()
        return Kernel(w if part == "all" else w.clamp(min=0) if part == "pos" else w.clamp(max=0),
                      _adjoint_kind(module))

    return _kept(module, part, make)


def folded(layer: nn.Module, batchnorm: nn.Module) -> nn.Module:
    """``layer`` (a convolution or linear layer) followed by the eval-mode ``batchnorm`` as one layer, as
    zennit's BatchNorm canonizer merges them: ``W' = W g / s``, ``b' = (b - mu) g / s + beta`` with
    ``s = sqrt(var + eps)`` per output channel. A copy: the model is left as it is. Kept for the rest of
    a ``fixed_weights`` block."""
    def make() -> nn.Module:
        scale = (batchnorm.running_var + batchnorm.eps).rsqrt()
        shift = -batchnorm.running_mean * scale
        if batchnorm.affine:
            scale, shift = scale * batchnorm.weight, shift * batchnorm.weight + batchnorm.bias
        one = copy.deepcopy(layer)
        with torch.no_grad():
            weight = layer.weight * scale.view(-1, *([1] * (layer.weight.dim() - 1)))
            bias = shift if layer.bias is None else layer.bias * scale + shift
        one.weight, one.bias = nn.Parameter(weight, requires_grad=False), nn.Parameter(bias, requires_grad=False)
        return one

    return _kept(batchnorm, "folded", make)


def _forward(module: nn.Module, x: torch.Tensor, k: Kernel) -> torch.Tensor:
    if isinstance(module, nn.Conv2d):
        return F.conv2d(x, k.weight, None, module.stride, module.padding, module.dilation, module.groups)
    return F.linear(x, k.weight)


def _transpose(module: nn.Module, s: torch.Tensor, k: Kernel, shape: torch.Size) -> torch.Tensor:
    """``W^T s``: the adjoint of the layer's linear map, shaped like its input."""
    if k.kind == "pointwise":
        return F.conv2d(s, k.adjoint)
    if k.kind == "depthwise":
        pad = [d * (ks - 1) - p for d, ks, p in zip(module.dilation, module.kernel_size, module.padding)]
        return F.conv2d(s, k.adjoint, None, 1, pad, module.dilation, module.groups)
    if k.kind == "transposed":
        natural = [(o - 1) * st - 2 * p + d * (ks - 1) + 1 for o, st, p, d, ks in
                   zip(s.shape[2:], module.stride, module.padding, module.dilation, module.kernel_size)]
        extra = [size - n for size, n in zip(shape[2:], natural)]
        return F.conv_transpose2d(s, k.adjoint, None, module.stride, module.padding, extra, module.groups,
                                  module.dilation)
    return s @ k.adjoint


EXPLICIT_TYPES = (nn.Conv2d, nn.Linear)


def _check(module: nn.Module) -> None:
    if isinstance(module, nn.Conv2d) and (module.padding_mode != "zeros" or isinstance(module.padding, str)):
        raise UnsupportedError(f"LRP here needs zero padding given as numbers; {module} has another padding.")


SIGNED_INPUTS = ("split", "as_written")


def check_signed_inputs(signed_inputs: str) -> None:
    """A clear error for an unknown treatment of signed z+ inputs (``zplus``)."""
    check_choice("signed_inputs", signed_inputs, SIGNED_INPUTS)


def without_explicit_rule(model: nn.Module) -> nn.Module | None:
    """The first linear layer (zennit's sense) with no explicit rule here (Conv1d, Conv3d, transposed
    convolutions: zennit's own rules take them), or None."""
    return next((m for m in model.modules() if isinstance(m, LinearTypes) and not isinstance(m, EXPLICIT_TYPES)),
                None)


def zplus(module: nn.Module, x: torch.Tensor, relevance: torch.Tensor, stabilizer: float = 1e-6,
          zero_bias: bool = False, inputs: str = "split") -> torch.Tensor:
    """z+ relevance of the layer's input ``x`` (N, ...) for the relevance ``R`` (T, N, ...) at its output;
    the denominator is computed once for all T maps. Differentiable in ``x`` and ``R`` (``_ZPlus``).

    ``inputs`` says how inputs of either sign are treated (the two agree where ``x >= 0``):

    - ``"split"`` (zennit's ``ZPlus``): ``R_in = x^+ (W^+)^T s + x^- (W^-)^T s``,
      ``s = R / (W^+ x^+ + W^- x^- (+ b^+) + epsilon)``; the ``x^-`` terms are computed where ``x`` has
      negative values (looked up on a CPU; always on an accelerator, where computing a zero branch is
      cheaper than synchronising to look);
    - ``"as_written"`` (the LRP poster's formula taken literally): ``R_in = x (W^+)^T s``,
      ``s = R / (W^+ x (+ b^+) +- epsilon)``, the stabiliser taking the sign of the denominator, which
      signed inputs can make negative or near zero;
    - ``"nonneg"``: the caller knows ``x >= 0`` (both rules at the cost of one branch, no look)."""
    _check(module)
    if inputs != "nonneg":
        check_signed_inputs(inputs)
    split = inputs == "split" and (x.device.type != "cpu" or x.numel() > 0 and bool(x.min() < 0))
    bias = None
    if module.bias is not None and not zero_bias:  # zennit keeps the positive bias
        bias = module.bias.detach().clamp(min=0).view(1, -1, *([1] * (x.dim() - 2)))
    return _ZPlus.apply(x, relevance, module, kernel(module, "pos"), kernel(module, "neg") if split else None,
                        bias, stabilizer, inputs == "as_written")


class _ZPlus(torch.autograd.Function):
    """The z+ rule with its derivative written out: with ``s = R / z`` and ``c_+- = (W^+-)^T s``,
    given ``g = dL/dR_in``:  ``dL/dR = (W^+ (g x^+) + W^- (g x^-)) / z``,  ``dL/dz = -sum_T dL/dR s``,
    ``dL/dx^+- = sum_T g c_+- + (W^+-)^T dL/dz``. Fewer passes over the activations than autograd
    takes through the same expressions (attacks differentiate this rule in every hidden layer)."""

    @staticmethod
    def forward(ctx, x, relevance, module, k_pos, k_neg, bias, stabilizer, signed_z):
        x_pos = x.clamp(min=0) if k_neg is not None else x
        z = _forward(module, x_pos, k_pos)  # a new tensor: updated in place below
        if k_neg is not None:
            x_neg = x.clamp(max=0)
            z.add_(_forward(module, x_neg, k_neg))
        if bias is not None:
            z.add_(bias)
        if signed_z:  # "as_written": z takes either sign; epsilon moves it away from 0 (zennit's Stabilizer)
            z = Stabilizer.ensure(stabilizer)(z)
        else:
            z.add_(stabilizer)  # z >= 0 here: zennit's stabiliser adds +epsilon
        s = relevance / z
        c_pos = _transpose_maps(module, s, k_pos, x.shape)
        out = x_pos * c_pos
        c_neg = None
        if k_neg is not None:
            c_neg = _transpose_maps(module, s, k_neg, x.shape)
            out.addcmul_(x_neg, c_neg)
        ctx.save_for_backward(x, z, s, c_pos, c_neg)
        ctx.module, ctx.k_pos, ctx.k_neg = module, k_pos, k_neg
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, z, s, c_pos, c_neg = ctx.saved_tensors
        module, k_pos, k_neg = ctx.module, ctx.k_pos, ctx.k_neg
        x_pos = x.clamp(min=0) if k_neg is not None else x
        grad_s = _forward_maps(module, grad * x_pos, k_pos)
        if k_neg is not None:
            grad_s.add_(_forward_maps(module, grad * x.clamp(max=0), k_neg))
        grad_r = grad_s.div_(z)
        minus_grad_z = _sum_of_products(grad_r, s)
        grad_x = _sum_of_products(grad, c_pos).sub_(_transpose(module, minus_grad_z, k_pos, x.shape))
        if k_neg is not None:
            grad_neg = _sum_of_products(grad, c_neg).sub_(_transpose(module, minus_grad_z, k_neg, x.shape))
            grad_x = torch.where(x > 0, grad_x, torch.where(x < 0, grad_neg, grad_x + grad_neg))  # as clamp's
        return grad_x, grad_r, None, None, None, None, None, None


def _sum_of_products(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``sum_t a[t] b[t]`` over the maps axis (T, ...), without a (T, ...) temporary."""
    out = a[0] * b[0]
    for t in range(1, a.shape[0]):
        out.addcmul_(a[t], b[t])
    return out


def fit_bound(bound: torch.Tensor, input: torch.Tensor) -> torch.Tensor:
    """Per-channel bound values shaped like ``input`` (channel-major when ``input`` is flattened)."""
    values = bound.reshape(-1).to(input)
    if input.dim() == 2:
        if input.shape[1] % values.numel():
            raise UnsupportedError(f"Cannot fit {values.numel()} channel bounds to a flat input of {input.shape[1]}.")
        return values.repeat_interleave(input.shape[1] // values.numel()).expand_as(input)
    return values.view(1, -1, *([1] * (input.dim() - 2))).expand_as(input)


def zbox(module: nn.Module, x: torch.Tensor, relevance: torch.Tensor, low: torch.Tensor, high: torch.Tensor,
         stabilizer: float = 1e-6) -> torch.Tensor:
    """z-beta relevance of ``x`` (N, ...) for ``R`` (T, N, ...), bounds ``low``/``high`` per channel:
    ``R_in = x W^T s - l (W^+)^T s - h (W^-)^T s = (x - l) (W^+)^T s + (x - h) (W^-)^T s``,
    ``s = R / (W x - W^+ l - W^- h)`` (stabilised)."""
    _check(module)
    low, high = fit_bound(low, x), fit_bound(high, x)
    w, w_pos, w_neg = kernel(module, "all"), kernel(module, "pos"), kernel(module, "neg")
    z = _forward(module, x, w) - _forward(module, low, w_pos) - _forward(module, high, w_neg)
    s = relevance / Stabilizer.ensure(stabilizer)(z)
    # W^T = (W^+)^T + (W^-)^T: two adjoint passes instead of three
    return ((x - low) * _transpose_maps(module, s, w_pos, x.shape)
            + (x - high) * _transpose_maps(module, s, w_neg, x.shape))


def norm(module: nn.Module, x: torch.Tensor, relevance: torch.Tensor, stabilizer: float = 1e-6,
         out: torch.Tensor | None = None) -> torch.Tensor:
    """z-rule of a parameter-free linear layer ``A`` (residual ``Sum``, 2-D average pooling) for
    ``R`` (T, N, ...): ``R_in = x A^T (R / A x)``; ``out`` is ``A x`` where the caller has it."""
    if out is None:
        out = module.forward(x)  # .forward: not through hooks
    s = relevance / Stabilizer.ensure(stabilizer)(out)
    maps = s.reshape(-1, *s.shape[2:])
    return x * _pool_or_sum_adjoint(module, maps, (maps.shape[0], *x.shape[1:])).reshape(*s.shape[:2], *x.shape[1:])


def _forward_maps(module: nn.Module, t: torch.Tensor, k: Kernel) -> torch.Tensor:
    """The layer's linear map with kernel ``k`` applied to T maps ``t`` (T, N, ...) in one call."""
    out = _forward(module, t.reshape(-1, *t.shape[2:]), k)
    return out.reshape(*t.shape[:2], *out.shape[1:])


def _transpose_maps(module: nn.Module, s: torch.Tensor, k: Kernel, shape: torch.Size) -> torch.Tensor:
    """``W^T s`` for the T maps ``s`` (T, N, ...) in one call, shaped (T, N, *shape[1:])."""
    flat_shape = (s.shape[0] * s.shape[1], *shape[1:])
    return _transpose(module, s.reshape(-1, *s.shape[2:]), k, flat_shape).reshape(*s.shape[:2], *shape[1:])


class _ExplicitRule(Hook):
    """A zennit hook around one of the rules above (one map: ``R`` gets a leading axis of 1)."""

    def __init__(self, stabilizer=1e-6):
        super().__init__()
        self.config = {"stabilizer": stabilizer}

    def forward(self, module, input, output):
        self.stored_tensors["input"] = input

    def copy(self):
        return self.__class__(**self.config)

    def backward(self, module, grad_input, grad_output):
        out = self.rule(module, self.stored_tensors["input"][0], grad_output[0][None], **self.config)[0]
        return tuple(out if g is not None and g.shape == out.shape else None for g in grad_input)


class ExplicitZPlus(_ExplicitRule):
    """The z+ rule (``inputs="split"``: zennit's ``ZPlus``); ``zero_bias`` leaves the bias out of the
    denominator."""
    rule = staticmethod(zplus)

    def __init__(self, stabilizer=1e-6, zero_bias: bool = False, inputs: str = "split"):
        super().__init__(stabilizer)
        self.config.update(zero_bias=zero_bias, inputs=inputs)


class ExplicitZBox(_ExplicitRule):
    """The z-beta rule (zennit's ``ZBox``) with per-channel bounds fitted to the layer's input."""
    rule = staticmethod(zbox)

    def __init__(self, low: torch.Tensor, high: torch.Tensor, stabilizer=1e-6):
        super().__init__(stabilizer)
        self.config.update(low=low, high=high)


class ExplicitNorm(_ExplicitRule):
    """The z-rule of parameter-free linear layers (zennit's ``Norm``) for a residual ``Sum`` or a 2-D
    average pooling (adaptive or fixed windows)."""
    rule = staticmethod(norm)


def _pool_or_sum_adjoint(module: nn.Module, s: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``A^T s`` for a residual ``Sum`` (copy to each summand) or an average pool, ``A x = P_h x P_w^T``."""
    if isinstance(module, Sum):
        return s.unsqueeze(module.dim).expand(shape)
    windows = _windows(module)
    rows = _averaging_matrix(*windows[0], shape[-2], s.shape[-2], s.device, s.dtype)
    cols = _averaging_matrix(*windows[1], shape[-1], s.shape[-1], s.device, s.dtype)
    return rows.transpose(0, 1) @ s @ cols


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
