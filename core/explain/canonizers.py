"""The zennit canonizers LRP uses for a model, and the check that they fit it.

zennit's ``SequentialMergeBatchNorm`` folds each BatchNorm into the leaf module listed just before it
(``BN(W x + b) = W' x + b'``). That is only right where that layer feeds the BatchNorm; in a
DenseNet, for instance, a BatchNorm reads a concatenation, and zennit would fold it into an unrelated
convolution, or fail half-way with the model's weights already changed. ``default_canonizers`` checks
the data flow first (by tracing the model with ``torch.fx``; by module order and channel counts where
the model cannot be traced) and refuses such models with a clear message, before anything changes.
"""
from __future__ import annotations

import weakref
from collections.abc import Callable

import torch.fx as fx
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck
from zennit.canonizers import SequentialMergeBatchNorm
from zennit.core import collect_leaves
from zennit.torchvision import ResNetCanonizer
from zennit.types import BatchNorm, Linear

from core.errors import UnsupportedError
from core.explain.lrp_graph import module_stack, traced

_misplaced: weakref.WeakKeyDictionary[nn.Module, list[str]] = weakref.WeakKeyDictionary()


def default_canonizers(model: nn.Module) -> list:
    """ResNet blocks get zennit's ResNet canonizer; other BatchNorms are merged into the layer before.
    ``UnsupportedError`` where a merge would fold a BatchNorm into a layer that does not feed it."""
    modules = list(model.modules())
    if not any(isinstance(m, BatchNorm) for m in modules):
        return []
    misplaced = misplaced_batchnorms(model)
    if misplaced:
        raise UnsupportedError(
            f"LRP folds each BatchNorm into the convolution or linear layer listed before it, but in this model "
            f"that layer does not feed {', '.join(misplaced[:3])}{' and others' if len(misplaced) > 3 else ''}. "
            f"Explain it with a gradient method (saliency, integrated_gradients); of the attacks, DeepFool and PGD "
            f"run on it, the LRP attacks do not.")
    if any(isinstance(m, (BasicBlock, Bottleneck)) for m in modules):
        return [ResNetCanonizer()]
    return [SequentialMergeBatchNorm()]


def sums_made_layers(canonizers: list) -> Callable[[fx.Node], bool]:
    """Whether ``canonizers`` turn a sum node of a model's trace into zennit's ``Sum`` layer: the residual
    sums of torchvision's ResNet blocks, with ``ResNetCanonizer``."""
    if not any(isinstance(c, ResNetCanonizer) for c in canonizers):
        return lambda node: False
    return lambda node: any(issubclass(kind, (BasicBlock, Bottleneck)) for _, kind in module_stack(node))


def misplaced_batchnorms(model: nn.Module) -> list[str]:
    """The BatchNorms that zennit's sequential merge would fold into a layer not feeding them, each named
    with what it reads instead (decided once per model). One that is never called is harmless where
    the layer before it is not called either (a training-only branch); otherwise the merge would
    change a layer in use."""
    if model not in _misplaced:
        _misplaced[model] = _find_misplaced(model)
    return _misplaced[model]


def _find_misplaced(model: nn.Module) -> list[str]:
    names = {id(m): name for name, m in model.named_modules()}
    feeders = _feeders(model)
    misplaced, last = [], None
    for leaf in collect_leaves(model):
        if isinstance(leaf, BatchNorm) and isinstance(last, Linear) and not _feeds(last, leaf, names, feeders):
            name = names[id(leaf)]
            if feeders is None or name in feeders:
                misplaced.append(f"{name} (it reads something else, e.g. a concatenation, as in DenseNet)")
            elif names[id(last)] in feeders:
                misplaced.append(f"{name} (it is never called, and {names[id(last)]} is)")
        last = leaf
    return misplaced


def _feeds(layer: nn.Module, batchnorm: nn.Module, names: dict[int, str], feeders) -> bool:
    """Whether ``layer``'s output is all ``batchnorm`` reads (traced), or at least has its channel count."""
    if feeders is None:
        return getattr(layer, "out_channels", getattr(layer, "out_features", None)) == batchnorm.num_features
    return feeders.get(names[id(batchnorm)]) == {names[id(layer)]}


def _feeders(model: nn.Module) -> dict[str, set[str | None]] | None:
    """For each module called in ``forward``: the modules whose outputs it reads (None for any other
    value); None where the model cannot be traced."""
    try:
        graph, _ = traced(model, fx.Tracer())
    except Exception:  # noqa: BLE001 -- any tracing failure means: fall back to module order
        return None
    feeders: dict[str, set[str | None]] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            sources = {n.target if n.op == "call_module" else None for n in node.all_input_nodes}
            feeders.setdefault(node.target, set()).update(sources)
    return feeders
