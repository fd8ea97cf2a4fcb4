"""Layer-wise relevance propagation with zennit.

Composites (``COMPOSITES``):
- ``epsilon_plus_flat``: flat rule at the first layer, z+ in convolutions, epsilon in dense layers.
- ``epsilon_gamma_box``: ZBox at the first layer, gamma in convolutions, epsilon in dense layers.
- ``zplus_zbox``: the LRP poster's rules (seed 000): z+ in every hidden layer,
  ``R_i = sum_j a_i w_ij^+ / sum_k a_k w_kj^+ R_j``, and z-beta (ZBox) at the input (every layer
  that reads the pixels, ``lrp_graph.reading_input``),
  ``R_i = sum_j (a_i w_ij - l_i w_ij^+ - h_i w_ij^-) / sum_k (a_k w_kj - l_k w_kj^+ - h_k w_kj^-) R_j``,
  with ``l``, ``h`` the images of pixel values 0 and 1 under the model's normalisation. The z+
  formula presumes non-negative activations ``a``; where a hidden layer's input can be negative
  (EfficientNet's linear bottlenecks), ``signed_inputs`` chooses (our choice, a parameter):
  ``"split"`` (default: zennit's ``ZPlus``, ``a^+ w^+`` and ``a^- w^-`` as the positive contributions) or
  ``"as_written"`` (the formula literally: its denominators then take either sign and come near zero,
  and on EfficientNet-Lite0 the maps turn to noise: docs/methods.md). The two agree on ReLU networks.

The output relevance is ``R^L_i = delta_{i,c}`` (``init="onehot"``, the poster's choice) or the target
logit times it (``init="logit"``, so the input relevance sums to the logit). The model's ``Normalize``
layer passes relevance through unchanged, so relevance is reported per input pixel.
``DifferentiableLRP`` keeps the graph so attacks can differentiate an explanation with respect to the
input (``zplus_zbox``: the graph engine of ``lrp_graph``; other composites: zennit with
``create_graph=True``, the second backward with the rules inactive).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from zennit.attribution import Gradient
from zennit.composites import EpsilonGammaBox, EpsilonPlusFlat, LayerMapComposite, layer_map_base
from zennit.core import Composite
from zennit.rules import Pass, ZPlus
from zennit.types import Linear

from core.errors import InputError, UnsupportedError
from core.explain.bounds import input_bounds
from core.explain.canonizers import default_canonizers, sums_made_layers
from core.explain.lrp_graph import check_branches, graph_lrp, input_layer_names
from core.explain.rules import (
    EXPLICIT_TYPES,
    NORM_TYPES,
    ExplicitNorm,
    ExplicitZBox,
    ExplicitZPlus,
    check_signed_inputs,
    without_explicit_rule,
)
from core.models.wrapper import Normalize
from core.validate import check_choice

COMPOSITES = ("epsilon_plus_flat", "epsilon_gamma_box", "zplus_zbox")
INITS = ("onehot", "logit")


@dataclass(frozen=True)
class LRPRules:
    """What decides an LRP map, as one record passed from a study's settings to the rules: the
    ``composite`` (rules per layer), the output relevance ``init`` (``R^L``, see ``output_relevance``),
    how z+ treats hidden inputs of either sign (``signed_inputs``, ``zplus_zbox`` only) and whether
    biases leave the rules (``ignore_bias``; None: the composite's default, out for ``zplus_zbox``).
    The defaults are the LRP poster's rules as its attacks use them (logit-seeded, our choice: see
    ``core.attacks.lrp_c2f``)."""

    composite: str = "zplus_zbox"
    init: str = "logit"
    signed_inputs: str = "split"
    ignore_bias: bool | None = None

    def __post_init__(self):
        check_rule_params(self.composite, ignore_bias=self.ignore_bias, signed_inputs=self.signed_inputs)
        check_choice("relevance init", self.init, INITS)

    def params(self) -> dict[str, Any]:
        """The keyword parameters of ``relevance(..., "lrp", **rules.params())`` (and of results' records)."""
        return asdict(self)


class ZPlusZBox(LayerMapComposite):
    """The poster's composite: z-beta (ZBox) at the layers that read the input, z+ in all later ones
    (rules.py). ``input_layers``: those layers' names (``lrp_graph.input_layer_names``); None takes
    the first layer in module order, as zennit's ``SpecialFirstLayerMapComposite`` does."""

    def __init__(self, low, high, stabilizer=1e-6, layer_map=None, zero_bias=True, signed_inputs="split",
                 canonizers=None, input_layers: frozenset[str] | None = None):
        layer_map = (layer_map or []) + [(NORM_TYPES, ExplicitNorm(stabilizer=stabilizer))] + layer_map_base(
            stabilizer) + [
            (EXPLICIT_TYPES, ExplicitZPlus(stabilizer=stabilizer, zero_bias=zero_bias, inputs=signed_inputs)),
            (Linear, ZPlus(stabilizer=stabilizer, zero_params=["bias"] if zero_bias else None)),
        ]
        self.zbox = ExplicitZBox(low=low, high=high, stabilizer=stabilizer)
        self.input_layers = input_layers
        super().__init__(layer_map=layer_map, canonizers=canonizers)

    def mapping(self, ctx, name, module):
        if isinstance(module, EXPLICIT_TYPES) and self._reads_input(ctx, name):
            return self.zbox
        return super().mapping(ctx, name, module)

    def _reads_input(self, ctx: dict, name: str) -> bool:
        if self.input_layers is not None:
            return name in self.input_layers
        first = not ctx.get("first_layer_visited", False)
        ctx["first_layer_visited"] = True
        return first


def check_lrp_supported(model: nn.Module) -> None:
    if any(isinstance(m, nn.MultiheadAttention) for m in model.modules()):
        raise UnsupportedError(
            "LRP rules for attention layers are not implemented here (vision transformers): "
            "explain with saliency, integrated_gradients or deeplift_shap; of the attacks, DeepFool and PGD run "
            "on such models, the LRP attacks do not."
        )


def check_rule_params(name: str, *, epsilon: float = 1e-6, gamma: float = 0.25, ignore_bias: bool | None = None,
                      signed_inputs: str = "split", canonizers: list | None = None) -> None:
    """The composite and its parameters (those of ``make_composite``), refused with a message unless usable."""
    check_choice("LRP composite", name, COMPOSITES)
    check_signed_inputs(signed_inputs)
    if ignore_bias not in (None, True, False):
        raise InputError(f"ignore_bias must be true, false or null (the composite's default), got {ignore_bias!r}.")
    if not epsilon > 0 or not gamma >= 0:
        raise InputError("LRP needs epsilon > 0 and gamma >= 0.")


def make_composite(
    name: str,
    model: nn.Module,
    *,
    epsilon: float = 1e-6,
    gamma: float = 0.25,
    ignore_bias: bool | None = None,
    signed_inputs: str = "split",
    canonizers: list | None = None,
) -> Composite:
    """A fresh zennit composite ``name`` for ``model`` (canonizers chosen for its architecture).

    ``ignore_bias`` drops bias terms from the rules (default: True for ``zplus_zbox``, whose
    equations have none, so relevance is conserved; False for zennit's own composites).
    ``signed_inputs`` (``zplus_zbox`` only): how z+ treats hidden-layer inputs of either sign, see
    ``rules.zplus`` (``split``, zennit's rule, or ``as_written``, the poster's formula taken literally).
    """
    check_rule_params(name, epsilon=epsilon, gamma=gamma, signed_inputs=signed_inputs)
    canon = default_canonizers(model) if canonizers is None else canonizers
    check_branches(model, sums_made_layers(canon))
    if ignore_bias is None:
        ignore_bias = name == "zplus_zbox"
    zero = ["bias"] if ignore_bias else None
    passes = [(Normalize, Pass())]
    if name == "epsilon_plus_flat":
        return EpsilonPlusFlat(epsilon=epsilon, layer_map=passes, zero_params=zero, canonizers=canon)
    low, high = input_bounds(model)
    if name == "epsilon_gamma_box":
        return EpsilonGammaBox(low=low, high=high, epsilon=epsilon, gamma=gamma, layer_map=passes,
                               zero_params=zero, canonizers=canon)
    other = without_explicit_rule(model) if signed_inputs == "as_written" else None
    if other is not None:  # such layers get zennit's ZPlus, i.e. "split"
        raise UnsupportedError(f"signed_inputs='as_written' is written for Conv2d and Linear layers; the model "
                               f"has a {type(other).__name__}: use signed_inputs='split'.")
    return ZPlusZBox(low=low, high=high, layer_map=passes, zero_bias=ignore_bias, signed_inputs=signed_inputs,
                     canonizers=canon, input_layers=input_layer_names(model))


def output_relevance(output: torch.Tensor, target: torch.Tensor, init: str) -> torch.Tensor:
    """``R^L``: one-hot of the target (``onehot``) or the one-hot scaled by the target logit (``logit``)."""
    check_choice("relevance init", init, INITS)
    onehot = torch.zeros_like(output).detach().scatter_(1, target[:, None], 1.0)
    return onehot if init == "onehot" else onehot * output  # keeps the logit's graph for attacks


def lrp(model: nn.Module, x: torch.Tensor, target: torch.Tensor, composite: str = "epsilon_plus_flat",
        init: str = "onehot", **params) -> torch.Tensor:
    """Relevance ``R^0`` (N, C, H, W) of each image for its target class. ``zplus_zbox`` runs on the graph
    engine where it takes the model, as the LRP attacks do (the same maps as zennit's hooks; it also
    takes BatchNorm beside residual sums written with ``+``); zennit's hooks run everything else."""
    explain = DifferentiableLRP(model, composite, **params)
    if explain.engine is not None:
        with torch.enable_grad():
            _, relevance = explain(x.detach().requires_grad_(), target[None], init)
        return relevance[0].detach()
    with Gradient(model, explain.composite) as attributor:
        _, relevance = attributor(x, lambda out: output_relevance(out, target, init))
    return relevance


class DifferentiableLRP:
    """Relevance as a differentiable function of the input, for attacks through explanations.

    Use inside a ``with`` block (zennit's rules, where used, are registered on enter, removed on exit)::

        with DifferentiableLRP(model, "zplus_zbox") as explain:
            logits, relevance = explain(x, targets)      # targets (T, N) -> relevance (T, N, C, H, W)
            grad = explain.grad(loss_of(relevance), x)  # d loss / d x through the explanation

    ``zplus_zbox`` runs on the graph engine (``lrp_graph``: one forward pass, the T maps stacked, no
    hooks) wherever it can take the model; otherwise, for the other composites and with
    ``engine="zennit"``, zennit's hooks run one pass per map with ``create_graph`` and the second
    backward switches them off.
    """

    def __init__(self, model: nn.Module, composite: str = "zplus_zbox", *, engine: str = "auto", **params):
        check_lrp_supported(model)
        check_rule_params(composite, **params)
        if engine not in ("auto", "zennit"):
            raise InputError(f"Unknown LRP engine {engine!r}; choose 'auto' or 'zennit'.")
        self.model = model
        self.engine = None
        if engine == "auto" and composite == "zplus_zbox" and params.get("canonizers") is None:
            low, high = input_bounds(model)
            zero_bias = params.get("ignore_bias")
            signed_inputs = params.get("signed_inputs", "split")
            self.engine = graph_lrp(model, low=low, high=high, zero_bias=True if zero_bias is None else zero_bias,
                                    signed_inputs=signed_inputs)
        self.composite = make_composite(composite, model, **params) if self.engine is None else None

    def __enter__(self) -> DifferentiableLRP:
        if self.engine is None:
            self.composite.register(self.model)
        return self

    def __exit__(self, *exc) -> None:
        if self.engine is None:
            self.composite.remove()

    def __call__(self, x: torch.Tensor, targets: torch.Tensor, init: str = "onehot"):
        """Logits (N, K) and relevance (T, N, C, H, W) of ``x`` (which must require grad), with graph."""
        targets = targets.reshape(-1, x.shape[0])
        if self.engine is not None:
            return self.engine(x, lambda logits: torch.stack([output_relevance(logits, t, init) for t in targets]))
        maps = []
        for target in targets:  # one pass per map: heads may hold per-row state (the fine heads' groups)
            logits = self.model(x)
            seed = _with_grad(output_relevance(logits, target, init))
            maps.append(torch.autograd.grad(logits, x, seed, create_graph=True)[0])
        return logits, torch.stack(maps)

    def grad(self, loss: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``d loss / d x`` through the relevance graph (zennit's rules, if used, switched off)."""
        if self.engine is not None:
            return torch.autograd.grad(loss, x)[0]
        with self.composite.inactive():
            (g,) = torch.autograd.grad(loss, x)
        return g


def _with_grad(seed: torch.Tensor) -> torch.Tensor:
    """A seed that requires grad, so that every rule builds its graph (zennit's do so only then)."""
    return seed if seed.requires_grad else seed.requires_grad_()
