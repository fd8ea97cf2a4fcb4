"""The poster's LRP (composite ``zplus_zbox``) as one explicit pass over the model's traced graph.

Attacks differentiate relevance with respect to the input. Through zennit's hooks that costs twice:
every hooked layer still runs its ordinary backward (then discarded) and clones its input, and
several maps from one forward pass need a batched backward (``is_grads_batched``), which runs
PyTorch's legacy vmap with a per-map loop for convolutions and padding. Here the model is traced
once with ``torch.fx`` (layers that carry a rule are leaves), the forward pass runs once, and the
graph is walked backwards carrying the T maps stacked as (T, N, ...):

- ``Conv2d`` / ``Linear``: z-beta (ZBox) at the layers that read the input (``input_layers``: the
  first one of a chain, the first of every branch where the input feeds several), z+ at all others
  (``rules.zbox``, ``rules.zplus``), their denominators computed once for all T maps; where the graph shows a layer's
  input is non-negative (it comes from a ReLU-type activation through pooling, reshaping, sums or
  products), z+ skips its ``x^-`` terms without looking at the values (no device synchronisation);
- a BatchNorm (eval mode) that reads a ``Conv2d`` / ``Linear`` layer feeding nothing else: the pair is
  one layer, the BatchNorm folded into it exactly (``rules.folded``, as zennit's canonizer merges them,
  which leaves the merged BatchNorm dividing by ``sqrt(1 + eps)``), and gets that layer's rule;
- residual ``Sum`` and 2-D average pools: the z-rule (``rules.norm``); so does a sum written with ``+``
  (or ``torch.add``) of two or more tensors computed from the input, ``R_i = a_i R / sum_k a_k``
  (``branch_sums``; zennit's hooks would give every summand all of ``R`` and need a canonizer that
  writes the sum as a ``Sum`` layer). A product, difference or quotient of two such tensors (a
  squeeze-and-excitation gate, say), a layer called as a function (``F.conv2d``, ``x.matmul(w)``), layer
  or group normalisation and softmax have no rule: ``check_branches`` refuses the model;
- activations and ``Normalize``: relevance passes unchanged (zennit's ``Pass``);
- zero or constant padding: its gradient, taken directly (a crop, or zeros where it cropped);
- every other node (flattening, stacking, concatenating, splitting, max pooling, the C2F heads'
  log-sum-exp or gather): its gradient, as zennit leaves such operations to autograd; a node with
  several outputs (``chunk``, ``split``) collects the relevance of each output it passes on.

The result equals zennit with ``ZPlusZBox`` (tests compare them) and is ordinary differentiable
tensor code, so ``torch.autograd.grad(loss, x)`` differentiates the explanation with first-order
backward passes only. Models it cannot take (a BatchNorm anywhere else, data-dependent control
flow, layer types without an explicit rule) are reported by ``graph_lrp`` returning None.
"""
from __future__ import annotations

import operator
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Number
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from zennit.core import Stabilizer
from zennit.types import Activation, AvgPool, BatchNorm

from core.errors import UnsupportedError
from core.explain.rules import EXPLICIT_TYPES, NORM_TYPES, folded, norm, without_explicit_rule, zbox, zplus
from core.models.wrapper import Normalize

PASS_TYPES = (Activation, Normalize)
PAD_TYPES = (nn.ZeroPad2d, nn.ConstantPad2d)
_LEAVES = EXPLICIT_TYPES + NORM_TYPES + PASS_TYPES + PAD_TYPES
_traces: weakref.WeakKeyDictionary[nn.Module, _Trace | None] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class _Trace:
    """A model's graph, and the tensors the tracer made constants of (kept here, not on the model)."""

    graph: fx.Graph
    constants: dict[str, torch.Tensor]
    nonneg: frozenset[fx.Node]  # nodes whose value is >= 0 whatever the input (``nonneg_nodes``)
    modules: dict[str, nn.Module]  # the model's named submodules
    input_layers: frozenset[fx.Node]  # the layers z-beta applies to (``reading_input``)
    from_input: frozenset[fx.Node]  # nodes computed from the input (``computed_from_input``)
    branch_sums: frozenset[fx.Node]  # sums of tensors computed from the input (``branch_arithmetic``)
    unruled: frozenset[fx.Node]  # nodes with no LRP rule here (``branch_arithmetic``)
    off_the_pixels: tuple[str, ...]  # input layers that read more than the pixels (``off_the_pixels``)
    folds: dict[fx.Node, fx.Node]  # BatchNorm -> the layer folded into it (``foldable_batchnorms``)
    supported: bool  # every layer has an explicit rule here (``_unsupported``)


class _Tracer(fx.Tracer):
    def is_leaf_module(self, module: nn.Module, name: str) -> bool:
        return isinstance(module, _LEAVES) or super().is_leaf_module(module, name)


def _unsupported(model: nn.Module, graph: fx.Graph, modules: dict[str, nn.Module],
                 folds: dict[fx.Node, fx.Node]) -> bool:
    """Layers whose zennit rule has no explicit twin here, or a BatchNorm that cannot be folded."""
    if without_explicit_rule(model) is not None:
        return True  # Conv1d, Conv3d, transposed convolutions
    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention) or isinstance(m, AvgPool) and not isinstance(m, NORM_TYPES):
            return True
    return any(node.op == "call_module" and isinstance(modules[node.target], BatchNorm) and node not in folds
               for node in graph.nodes)


def foldable_batchnorms(graph: fx.Graph, modules: dict[str, nn.Module]) -> dict[fx.Node, fx.Node]:
    """Each BatchNorm that reads the output of a convolution or linear layer feeding nothing else, and
    that layer: the engine explains the pair as one layer (``rules.folded``), as zennit's canonizer
    merges them."""
    folds = {}
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], BatchNorm) or len(node.args) != 1:
            continue
        layer = node.args[0]
        if (isinstance(layer, fx.Node) and layer.op == "call_module"
                and isinstance(modules[layer.target], EXPLICIT_TYPES) and len(layer.users) == 1):
            folds[node] = layer
    return folds


def _trace(model: nn.Module) -> _Trace | None:
    """The model's trace, or None where it cannot be traced; made once per model."""
    if model not in _traces:
        _traces[model] = _new_trace(model)
    return _traces[model]


def input_layer_names(model: nn.Module) -> frozenset[str] | None:
    """Names of the modules z-beta applies to (``reading_input``), or None where the model cannot be
    traced (zennit's composites then take the first such layer in module order)."""
    trace = _trace(model)
    return None if trace is None else frozenset(node.target for node in trace.input_layers)


def traced(model: nn.Module, tracer: fx.Tracer) -> tuple[fx.Graph, dict[str, torch.Tensor]]:
    """``model``'s graph by ``tracer``, and the tensors computed in ``forward`` that the tracer stored on
    the model as constants (taken back off it, also when tracing fails)."""
    before = set(vars(model))
    try:
        graph = tracer.trace(model)
    finally:
        constants = {name: vars(model).pop(name) for name in set(vars(model)) - before}
    return graph, constants


def _new_trace(model: nn.Module) -> _Trace | None:
    try:
        graph, constants = traced(model, _Tracer())
    except Exception:  # noqa: BLE001 -- data-dependent control flow and the like: zennit's hooks take such models
        return None
    modules = {name: m for name, m in model.named_modules() if name}  # not the model: _traces holds it weakly
    from_input = computed_from_input(graph)
    input_layers = reading_input(graph, modules, from_input)
    folds = foldable_batchnorms(graph, modules)
    return _Trace(graph, constants, nonneg_nodes(graph, modules), modules, input_layers, from_input,
                  *branch_arithmetic(graph, modules, from_input), off_the_pixels(graph, modules, input_layers),
                  folds, not _unsupported(model, graph, modules, folds))


def computed_from_input(graph: fx.Graph) -> frozenset[fx.Node]:
    """The input and every node computed from it (not parameters, buffers or constants alone)."""
    found: set[fx.Node] = set()
    for node in graph.nodes:
        if node.op == "placeholder" or any(n in found for n in node.all_input_nodes):
            found.add(node)
    return frozenset(found)


def computed_operands(node: fx.Node, from_input: frozenset[fx.Node]) -> list[fx.Node]:
    """The node's operands computed from the input, each as often as it is one."""
    return [a for a in (*node.args, *node.kwargs.values()) if isinstance(a, fx.Node) and a in from_input]


SUM_FUNCTIONS, SUM_METHODS = {operator.add, torch.add}, {"add", "add_"}
OTHER_FUNCTIONS = {operator.sub, torch.sub, operator.mul, torch.mul, operator.truediv, torch.div}
OTHER_METHODS = {"sub", "sub_", "mul", "mul_", "div", "div_"}
# layers called as functions, and normalisations and softmax (what their modules call): no rule here
UNRULED_FUNCTIONS = {F.conv1d, F.conv2d, F.conv3d, F.conv_transpose2d, F.linear, torch.conv2d, torch.addmm, torch.mm,
                     torch.matmul, operator.matmul, torch.bmm, torch.einsum, F.layer_norm, F.group_norm,
                     F.instance_norm, F.batch_norm, F.softmax, torch.softmax, F.log_softmax}
UNRULED_METHODS = {"matmul", "mm", "bmm", "addmm", "softmax", "log_softmax"}  # ``x.matmul(w)``, ``x.softmax(1)``
UNRULED_MODULES = (nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d,
                   nn.LocalResponseNorm, nn.Softmax, nn.LogSoftmax, nn.Softmax2d)  # fx keeps torch.nn's layers whole


def branch_arithmetic(graph: fx.Graph, modules: dict[str, nn.Module],
                      from_input: frozenset[fx.Node]) -> tuple[frozenset[fx.Node], frozenset[fx.Node]]:
    """Sums of two or more tensors computed from the input (``a + b``, residual connections written with
    ``+``), and the nodes LRP has no rule for: other arithmetic on two such tensors (products, differences,
    quotients; sums with ``alpha``), and layers called as functions, normalisations and softmax."""
    sums, unruled = set(), set()
    for node in graph.nodes:
        computed = computed_operands(node, from_input)
        function, method = node.op == "call_function", node.op == "call_method"
        if computed and (function and node.target in UNRULED_FUNCTIONS or method and node.target in UNRULED_METHODS
                         or node.op == "call_module" and isinstance(modules[node.target], UNRULED_MODULES)):
            unruled.add(node)
        elif len(computed) < 2:
            continue
        elif function and node.target in SUM_FUNCTIONS or method and node.target in SUM_METHODS:
            (unruled if "alpha" in node.kwargs else sums).add(node)
        elif function and node.target in OTHER_FUNCTIONS or method and node.target in OTHER_METHODS:
            unruled.add(node)
    return frozenset(sums), frozenset(unruled)


def reading_input(graph: fx.Graph, modules: dict[str, nn.Module],
                  from_input: frozenset[fx.Node]) -> frozenset[fx.Node]:
    """Layers with an explicit rule that read the input with no such layer in between (only through
    normalisation, indexing and the like): the first layer of a chain, and the first of every branch
    where the input feeds several (the fine networks of an assembled C2F classifier)."""
    behind: set[fx.Node] = set()  # nodes computed from some layer's output
    found: set[fx.Node] = set()
    for node in graph.nodes:
        if node not in from_input:
            continue
        if any(n in behind for n in node.all_input_nodes):
            behind.add(node)
        elif node.op == "call_module" and isinstance(modules[node.target], EXPLICIT_TYPES):
            found.add(node)
            behind.add(node)
    return frozenset(found)


PIXEL_KEEPING_MODULES = (Normalize, nn.Identity, nn.Dropout, nn.Flatten, nn.Unflatten) + PAD_TYPES
PIXEL_KEEPING_FUNCTIONS = {operator.getitem, torch.flatten, torch.cat, torch.stack, torch.flip, F.dropout}
PIXEL_KEEPING_METHODS = {"view", "reshape", "flatten", "contiguous", "permute", "transpose", "squeeze", "unsqueeze",
                         "flip", "expand", "repeat", "chunk", "split", "clone", "to", "float", "double"}


def input_layers_off_the_pixels(model: nn.Module) -> tuple[str, ...]:
    """``off_the_pixels`` of the model's trace (found once per model); empty where it cannot be traced."""
    trace = _trace(model)
    return () if trace is None else trace.off_the_pixels


def off_the_pixels(graph: fx.Graph, modules: dict[str, nn.Module], input_layers: frozenset[fx.Node]) -> tuple[str, ...]:
    """The input layers that read more than the pixels, normalised (``Normalize``), moved, cropped or
    zero-padded (a BatchNorm or arithmetic on the way): z-beta's bounds, the images of pixel values 0 and
    1, do not bound what they read."""
    pixels: set[fx.Node] = set()
    for node in graph.nodes:
        first = node.args[0] if node.args else None
        sources = list(first) if isinstance(first, (list, tuple)) else [first]
        keeps = (node.op == "call_module" and isinstance(modules[node.target], PIXEL_KEEPING_MODULES)
                 or node.op == "call_function" and node.target in PIXEL_KEEPING_FUNCTIONS
                 or node.op == "call_method" and node.target in PIXEL_KEEPING_METHODS)
        if node.op == "placeholder" or keeps and all(source in pixels for source in sources):
            pixels.add(node)
    return tuple(sorted(node.target for node in input_layers if node.args[0] not in pixels))


NONNEG_MODULES = (nn.ReLU, nn.ReLU6, nn.Sigmoid, nn.Hardsigmoid, nn.Softmax)
NONNEG_FUNCTIONS = {torch.relu, F.relu, F.relu6, torch.sigmoid, F.sigmoid, F.hardsigmoid, torch.softmax, F.softmax}
SIGN_KEEPING_MODULES = (nn.MaxPool2d, nn.AdaptiveMaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.Dropout,
                        nn.Flatten, nn.Identity, nn.ZeroPad2d)
SIGN_KEEPING_FUNCTIONS = {torch.flatten, torch.cat, torch.stack, operator.getitem, F.max_pool2d,
                          F.adaptive_max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d, F.dropout, torch.mean}
SIGN_KEEPING_METHODS = {"view", "reshape", "flatten", "contiguous", "permute", "transpose", "mean", "squeeze",
                        "unsqueeze"}
ARITHMETIC = {operator.add, operator.mul, torch.add, torch.mul}


def nonneg_nodes(graph: fx.Graph, modules: dict[str, nn.Module]) -> frozenset[fx.Node]:
    """Nodes that are >= 0 for every input: outputs of ReLU-type activations, and what pooling, reshaping,
    concatenating, or adding and multiplying (with non-negative constants) makes of such values only."""
    nonneg: set[fx.Node] = set()
    for node in graph.nodes:
        module = modules.get(node.target) if node.op == "call_module" else None
        inputs_nonneg = bool(node.all_input_nodes) and all(n in nonneg for n in node.all_input_nodes)
        if _makes_nonneg(node, module) or inputs_nonneg and _keeps_sign(node, module):
            nonneg.add(node)
    return frozenset(nonneg)


def _makes_nonneg(node: fx.Node, module: nn.Module | None) -> bool:
    return isinstance(module, NONNEG_MODULES) or node.op == "call_function" and node.target in NONNEG_FUNCTIONS


def _keeps_sign(node: fx.Node, module: nn.Module | None) -> bool:
    """Non-negative inputs give a non-negative output."""
    if node.op == "call_module":
        return isinstance(module, SIGN_KEEPING_MODULES)
    if node.op == "call_method":
        return node.target in SIGN_KEEPING_METHODS
    if node.op == "call_function" and node.target in ARITHMETIC:  # and every constant operand >= 0
        return all(isinstance(a, fx.Node) or isinstance(a, Number) and a >= 0
                   for a in (*node.args, *node.kwargs.values()))
    return node.op == "call_function" and node.target in SIGN_KEEPING_FUNCTIONS


def graph_lrp(model: nn.Module, *, stabilizer: float = 1e-6, zero_bias: bool = True, signed_inputs: str = "split",
              low: torch.Tensor | None = None, high: torch.Tensor | None = None) -> GraphLRP | None:
    """The engine for ``model``, or None where it cannot take the model (see the module docstring)."""
    trace = _trace(model)
    check_branches(model, lambda node: True)
    if trace is None or not trace.supported:
        return None
    if any(trace.modules[bn.target].training or trace.modules[bn.target].running_var is None for bn in trace.folds):
        return None  # batch statistics: nothing to fold
    return GraphLRP(model, trace, low, high, stabilizer, zero_bias, signed_inputs)


class GraphLRP:
    """``(logits, relevance)`` of ``x`` for T target rows: relevance (T, N, C, H, W), with graph."""

    def __init__(self, model: nn.Module, trace: _Trace, low, high, stabilizer: float, zero_bias: bool,
                 signed_inputs: str):
        self.model, self.graph, self.constants, self.nonneg = model, trace.graph, trace.constants, trace.nonneg
        self.low, self.high, self.stabilizer, self.zero_bias = low, high, stabilizer, zero_bias
        self.signed_inputs = signed_inputs  # rules.zplus's ``inputs`` where the sign analysis cannot tell
        self.modules, self.input_layers = trace.modules, trace.input_layers  # made once per model, with the trace
        self.from_input, self.branch_sums, self.folds = trace.from_input, trace.branch_sums, trace.folds

    def forward(self, x: torch.Tensor) -> tuple[dict[fx.Node, Any], dict[fx.Node, dict]]:
        """Every node's value (the graph interpreted once) and, for nodes that pass relevance by their
        gradient, the aliases of their inputs: a gradient taken to an alias stays local to the node
        (to the input itself it would also run through any path between the inputs)."""
        env: dict[fx.Node, Any] = {}
        aliases: dict[fx.Node, dict[fx.Node, torch.Tensor]] = {}
        for node in self.graph.nodes:
            if node.op == "placeholder":
                env[node] = x
                continue
            if node.op == "get_attr":
                env[node] = (self.constants[node.target] if node.target in self.constants
                             else operator.attrgetter(node.target)(self.model))
                continue
            module = self.modules.get(node.target) if node.op == "call_module" else None
            local = {n: env[n] for n in node.all_input_nodes}
            if getattr(module, "inplace", False) or node.op == "call_method" and node.target.endswith("_"):
                # the rules read inputs: an in-place layer or method gets a copy
                local = {n: v.clone() if isinstance(v, torch.Tensor) else v for n, v in local.items()}
            if node.op != "output" and not isinstance(module, _LEAVES):
                local = aliases[node] = {n: _alias(v) for n, v in local.items()}
            args, kwargs = fx.node.map_arg((node.args, node.kwargs), lambda n, local=local: local[n])
            if node.op == "call_module":
                env[node] = module(*args, **kwargs)
            elif node.op == "call_function":
                env[node] = node.target(*args, **kwargs)
            elif node.op == "call_method":
                env[node] = getattr(args[0], node.target)(*args[1:], **kwargs)
            else:  # output
                env[node] = args[0]
        return env, aliases

    def __call__(self, x: torch.Tensor, seeds: Callable[[torch.Tensor], torch.Tensor]):
        """Logits (N, K) and relevance (T, N, ...) for the output relevance ``seeds(logits)`` (T, N, K)."""
        env, aliases = self.forward(x)
        out = next(n for n in reversed(self.graph.nodes) if n.op == "output")
        logits = env[out]
        seed = seeds(logits)
        relevance: dict[fx.Node, torch.Tensor] = {out.args[0]: seed}
        for node in reversed(self.graph.nodes):
            r = relevance.pop(node, None)
            if node.op == "placeholder":
                return logits, r if r is not None else x.new_zeros(seed.shape[0], *x.shape)
            if r is not None:
                for source, r_in in self._propagate(node, env, aliases, r):
                    relevance[source] = _accumulate(relevance.get(source), r_in)
        raise UnsupportedError("The traced model has no input.")

    def _propagate(self, node: fx.Node, env: dict, aliases: dict, r) -> list[tuple[fx.Node, Any]]:
        """Relevance of the node's tensor inputs, from the relevance ``r`` (T, N, ...) of its output
        (for a node with several outputs, such as ``chunk``: ``{output index: relevance}``)."""
        if node.op == "call_function" and node.target is operator.getitem and isinstance(
                env[node.args[0]], (tuple, list)):
            return [(node.args[0], {node.args[1]: r})]  # one output of a multi-output node
        if node.op == "call_module":
            module = self.modules[node.target]
            if node in self.folds:  # a BatchNorm: the rule of the layer before it, folded, to that layer's input
                node = self.folds[node]
                module = folded(self.modules[node.target], module)
            source = node.args[0]
            if isinstance(module, PASS_TYPES):
                return [(source, r)]
            if isinstance(module, PAD_TYPES):  # the gradient of padding (a crop where it added), without autograd
                return [(source, F.pad(r, [-p for p in module.padding]))]
            if isinstance(module, NORM_TYPES):
                return [(source, norm(module, env[source], r, self.stabilizer, out=env[node]))]
            if isinstance(module, EXPLICIT_TYPES):
                if node in self.input_layers:
                    return [(source, zbox(module, env[source], r, self.low, self.high, self.stabilizer))]
                inputs = "nonneg" if source in self.nonneg else self.signed_inputs
                return [(source, zplus(module, env[source], r, self.stabilizer, self.zero_bias, inputs))]
        if node in self.branch_sums:
            return self._sum_rule(node, env, r)
        return self._gradient(node, env[node], aliases[node], r)

    def _sum_rule(self, node: fx.Node, env: dict, r: torch.Tensor) -> list[tuple[fx.Node, torch.Tensor]]:
        """The z-rule of a sum of tensors computed from the input, ``R_i = a_i R / sum_k a_k`` (as a ``Sum``
        layer gets); with ``zero_bias`` a constant term (a bias) takes no relevance, as in z+."""
        parts = computed_operands(node, self.from_input)
        total = sum(env[n] for n in parts) if self.zero_bias else env[node]
        s = r / Stabilizer.ensure(self.stabilizer)(total)
        return [(n, _summed_to(env[n] * s, env[n].shape)) for n in parts]

    @staticmethod
    def _gradient(node: fx.Node, output: Any, inputs: dict[fx.Node, Any], r) -> list[tuple[fx.Node, torch.Tensor]]:
        """Relevance by the node's own gradient (one vector-Jacobian product per map, graph kept)."""
        parts = r if isinstance(r, dict) else {None: r}
        outputs = [output if i is None else output[i] for i in parts]
        if not all(isinstance(o, torch.Tensor) for o in outputs):
            raise UnsupportedError(f"LRP here needs tensor-valued layers; {node.format_node()} is not one.")
        sources = [(n, v) for n, v in inputs.items() if isinstance(v, torch.Tensor) and v.requires_grad]
        if not sources or not any(o.requires_grad for o in outputs):
            return []
        tensors = [v for _, v in sources]
        maps = next(iter(parts.values())).shape[0]
        per_map = [torch.autograd.grad(outputs, tensors, [p[t] for p in parts.values()], retain_graph=True,
                                       create_graph=True, allow_unused=True)
                   for t in range(maps)]
        return [(n, torch.stack([g[i] for g in per_map])) for i, (n, _) in enumerate(sources)
                if per_map[0][i] is not None]


def _summed_to(t: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``t`` (T, ...) summed over the dimensions along which a tensor of ``shape`` was broadcast."""
    lead = t.dim() - 1 - len(shape)
    return t.sum_to_size(t.shape[0], *([1] * lead), *shape).reshape(t.shape[0], *shape)


def check_branches(model: nn.Module, sums_ruled: Callable[[fx.Node], bool]) -> None:
    """``UnsupportedError`` where two tensors computed from the input meet in arithmetic that LRP has no rule
    for here: a product, difference or quotient, or a sum for which ``sums_ruled`` is False (zennit's hooks
    give every summand of a sum written with ``+`` all of the sum's relevance). Untraceable models pass."""
    trace = _trace(model)
    if trace is None:
        return
    if trace.unruled:
        raise UnsupportedError(
            f"LRP has no rule here for {_places(trace.unruled, trace.modules)}: a product, difference or quotient "
            "of two tensors that both depend on the input (a squeeze-and-excitation gate, for instance), a layer "
            "called as a function (give it as an nn.Conv2d or nn.Linear module), layer or group normalisation, or "
            "softmax. "
            "Relevance would not be conserved through it. Explain this model with a gradient method (saliency, "
            "integrated_gradients); of the attacks, DeepFool and PGD run on it, the LRP attacks do not.")
    unruled = [n for n in trace.branch_sums if not sums_ruled(n)]
    if unruled:
        raise UnsupportedError(
            f"This model adds tensors that both depend on the input ({_places(unruled, trace.modules)}), and LRP "
            "runs on it through zennit's hooks (it has BatchNorm layers, or another composite than zplus_zbox was "
            "asked for), which would give every summand all of the sum's relevance. Write such a sum as a "
            "zennit.layer.Sum layer over the stacked summands, as core.models.efficientnet_lite does, so that it "
            "gets the z-rule.")


def _places(nodes, modules: dict[str, nn.Module]) -> str:
    """What the nodes are and where (at most three named): a layer by its path, an operation by the module
    whose ``forward`` has it (``nn_module_stack``)."""
    names = sorted({_place(n, modules) for n in nodes})
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _place(node: fx.Node, modules: dict[str, nn.Module]) -> str:
    if node.op == "call_module":
        return f"{node.target} ({type(modules[node.target]).__name__})"
    operation = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", node.name)
    stack = module_stack(node)
    return f"`{operation}` in " + (f"{stack[-1][0]} ({stack[-1][1].__name__})" if stack else "the model's forward")


def module_stack(node: fx.Node) -> list[tuple[str, type]]:
    """(path, type) of the modules whose ``forward`` the traced node is in, outermost first."""
    return [entry for entry in node.meta.get("nn_module_stack", {}).values()
            if isinstance(entry, tuple) and isinstance(entry[1], type)]  # (path, type) in torch 2


def _accumulate(total, part):
    """Relevance reaching one node from several users (dicts: per output of a multi-output node)."""
    if total is None:
        return part
    if isinstance(part, dict):
        merged = dict(total)
        for i, r in part.items():
            merged[i] = merged[i] + r if i in merged else r
        return merged
    return total + part


def _alias(value: Any) -> Any:
    """``value`` behind a new autograd node of its own (a view), where it carries a gradient."""
    if not isinstance(value, torch.Tensor) or not value.requires_grad:
        return value
    return value.view_as(value)
