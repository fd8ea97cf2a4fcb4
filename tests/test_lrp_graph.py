"""The graph engine for differentiable LRP (core.explain.lrp_graph) and the z+ rule's written-out
derivative: same maps and same input gradients as zennit's hooks, derivative checked numerically."""
import copy
import re

import pytest
import torch
from torch import nn
from zennit.layer import Sum

from core import models
from core.attacks.lrp_c2f import lrp_loss
from core.errors import InputError, UnsupportedError
from core.explain import DifferentiableLRP
from core.explain.lrp import make_composite
from core.explain.rules import fixed_weights, kernel, zplus
from core.models.wrapper import ImageClassifier
from test_explain_lrp import ResidualPoolNet


@pytest.mark.parametrize("make_layer", [lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1),
                                        lambda: nn.Conv2d(4, 4, 3, padding=1, groups=4),
                                        lambda: nn.Conv2d(4, 3, 1), lambda: nn.Linear(12, 5)],
                         ids=["strided", "depthwise", "pointwise", "linear"])
@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("zero_bias", [False, True])
@pytest.mark.parametrize("inputs", ["split", "as_written"])
def test_zplus_derivative_matches_finite_differences(make_layer, signed, zero_bias, inputs):
    torch.manual_seed(1)  # before the layer is made: its weights must not depend on which tests ran first
    layer = make_layer().double()
    shape = (2, 12) if isinstance(layer, nn.Linear) else (2, layer.in_channels, 5, 6)
    x = torch.rand(shape, dtype=torch.float64) + 0.1
    if signed:
        x = x - 0.6  # both signs, no exact zeros (where clamp's derivative has a kink)
    with torch.no_grad():
        out_shape = layer(x).shape
    relevance = torch.rand(2, *out_shape, dtype=torch.float64)  # two maps
    x.requires_grad_()
    relevance.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, r: zplus(layer, a, r, 1e-6, zero_bias, inputs), (x, relevance))


def test_zplus_as_written_is_the_posters_formula_on_signed_inputs_and_the_split_rule_on_nonnegative_ones():
    torch.manual_seed(5)
    layer = nn.Linear(6, 3, bias=False).double()
    w_pos = layer.weight.detach().clamp(min=0)  # (3, 6)
    x = torch.rand(2, 6, dtype=torch.float64) - 0.4
    assert (x < 0).any() and (x > 0).any()
    relevance = torch.rand(1, 2, 3, dtype=torch.float64)
    z = x @ w_pos.T  # z_j = sum_k a_k w_kj^+, either sign
    z = z + 1e-6 * torch.where(z >= 0, 1.0, -1.0)
    by_hand = x * ((relevance[0] / z) @ w_pos)  # R_i = sum_j a_i w_ij^+ R_j / z_j
    torch.testing.assert_close(zplus(layer, x, relevance, inputs="as_written")[0], by_hand)
    assert not torch.allclose(zplus(layer, x, relevance, inputs="split"), by_hand[None])
    nonneg = x.clamp(min=0)
    torch.testing.assert_close(zplus(layer, nonneg, relevance, inputs="as_written"),
                               zplus(layer, nonneg, relevance, inputs="split"))
    with pytest.raises(InputError, match="as_written"):
        zplus(layer, x, relevance, inputs="literal")


def test_fixed_weights_keeps_kernels_for_the_block_only():
    torch.manual_seed(0)
    layer = nn.Conv2d(3, 4, 1)
    x, relevance = torch.rand(2, 3, 5, 5), torch.rand(1, 2, 4, 5, 5)
    before = zplus(layer, x, relevance)
    with fixed_weights():
        kept = kernel(layer, "pos")
        assert kernel(layer, "pos") is kept  # prepared once, reused
        assert torch.equal(kept.adjoint, layer.weight.detach().clamp(min=0).transpose(0, 1))
        assert torch.allclose(zplus(layer, x, relevance), before)
    with torch.no_grad():
        layer.weight.mul_(-1.0)  # after the block a weight change is seen at once
    flipped = layer.weight.detach().clamp(min=0)
    assert torch.equal(kernel(layer, "pos").weight, flipped)
    assert not torch.allclose(zplus(layer, x, relevance), before)


def _maps_and_grad(model, x, targets, engine, **rule_params):
    xa = x.clone().requires_grad_()
    with DifferentiableLRP(model, "zplus_zbox", engine=engine, **rule_params) as explain:
        logits, maps = explain(xa, targets, "logit")
        grad = explain.grad(lrp_loss(maps, 2.0).sum(), xa)
    return explain.engine is not None, logits.detach(), maps.detach(), grad


def _both_engines(model, x, targets, **rule_params):
    """Logits, maps and input gradients from the graph engine (which must take the model) and from zennit's
    hooks: ``(graph, zennit)``, each ``(logits, maps, grad)``."""
    used, *graph = _maps_and_grad(model, x, targets, "auto", **rule_params)
    assert used
    _, *hooks = _maps_and_grad(model, x, targets, "zennit", **rule_params)
    return graph, hooks


def test_graph_engine_equals_zennit_hooks_through_sums_and_pools():
    model = ImageClassifier(ResidualPoolNet(), (0.5,) * 3, (0.25,) * 3).double().eval()
    x = torch.rand(3, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    targets = torch.tensor([[0, 1, 2], [3, 2, 1]])
    (logits, maps, grad), (logits_z, maps_z, grad_z) = _both_engines(model, x, targets)
    torch.testing.assert_close(logits, logits_z)
    torch.testing.assert_close(maps, maps_z)
    torch.testing.assert_close(grad, grad_z)
    assert grad.abs().sum() > 0


def test_graph_engine_equals_zennit_hooks_through_padding_of_both_signs():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.ZeroPad2d((1, 0, 2, 1)), nn.Conv2d(4, 4, 3),
                          nn.ReLU(), nn.ZeroPad2d(-1), nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 9 * 7, 5)).double().eval()
    x = torch.rand(2, 3, 12, 12, dtype=torch.float64)
    targets = torch.tensor([[0, 1], [2, 3]])
    (_, maps, grad), (_, maps_z, grad_z) = _both_engines(model, x, targets)
    torch.testing.assert_close(maps, maps_z)
    torch.testing.assert_close(grad, grad_z)


def test_as_written_refuses_layers_that_only_have_zennits_split_rule():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(2), nn.Conv1d(4, 2, 3), nn.Flatten(), nn.Linear(2 * 14, 3))
    with pytest.raises(UnsupportedError, match="Conv1d"):
        make_composite("zplus_zbox", model, signed_inputs="as_written")
    make_composite("zplus_zbox", model)  # split: zennit's ZPlus takes the Conv1d


def test_both_treatments_of_signed_inputs_run_the_same_on_either_engine():
    """A hidden convolution reads the signed output of another: the graph engine and zennit's hooks agree
    on maps and input gradients for either ``signed_inputs``, and the two treatments differ there."""
    torch.manual_seed(6)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 3)).double().eval()
    x = torch.rand(2, 3, 6, 6, dtype=torch.float64)
    targets = torch.tensor([[0, 1], [2, 0]])
    maps_of = {}
    for signed_inputs in ("split", "as_written"):
        (_, maps, grad), (_, maps_z, grad_z) = _both_engines(model, x, targets, signed_inputs=signed_inputs)
        torch.testing.assert_close(maps, maps_z)
        torch.testing.assert_close(grad, grad_z)
        maps_of[signed_inputs] = maps
    assert not torch.allclose(maps_of["split"], maps_of["as_written"])


def test_graph_engine_equals_zennit_hooks_on_the_c2f_efficientnet():
    hc = models.load("efficientnet_lite0", hierarchy="imagenet_c2f").model
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    targets = torch.tensor([[0, 5], [4, 1]])
    for head in (hc.coarse, hc.fine_head(torch.tensor([2, 6]))):
        (logits, maps, grad), (logits_z, maps_z, grad_z) = _both_engines(head, x, targets)
        torch.testing.assert_close(logits, logits_z)
        scale = maps_z.abs().max()
        torch.testing.assert_close(maps / scale, maps_z / scale, rtol=0, atol=1e-4)
        g_scale = grad_z.abs().max()
        assert g_scale > 0
        torch.testing.assert_close(grad / g_scale, grad_z / g_scale, rtol=0, atol=1e-4)


class _Untraceable(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                                    nn.Linear(4 * 36, 2))

    def forward(self, x):
        return self.layers(-x if x.sum() < 0 else x)


def test_models_the_engine_cannot_take_fall_back_to_zennit():
    model = ImageClassifier(_Untraceable(), (0.5,) * 3, (0.5,) * 3).eval()
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    with DifferentiableLRP(model, "zplus_zbox") as explain:
        assert explain.engine is None
        _, maps = explain(x, torch.tensor([[0, 1]]))
    assert maps.shape == (1, 2, 3, 8, 8) and torch.isfinite(maps).all()


def _with_batch_statistics(net: nn.Module) -> nn.Module:
    """Every BatchNorm given running statistics and an affine map far from the identity (seeded), and
    eps 0: zennit's merge leaves a merged BatchNorm dividing by sqrt(1 + eps), where the engine's fold is
    exact, so only then do the two agree to rounding."""
    g = torch.Generator().manual_seed(8)
    for m in net.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.eps = 0.0
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) - 0.5)
    return net


class ResidualBatchNormNet(nn.Module):
    """conv-BN stem, a residual block whose branch has a conv-BN pair and whose sum is written with ``+``,
    then a linear-BN1d head: what zennit's hooks cannot take and the engine folds."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(9)
        self.stem = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU())
        self.branch = nn.Sequential(nn.Conv2d(6, 6, 3, padding=1), nn.BatchNorm2d(6))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 8), nn.BatchNorm1d(8),
                                  nn.ReLU(), nn.Linear(8, 4))

    def forward(self, x):
        y = self.stem(x)
        return self.head(torch.relu(y + self.branch(y)))


def test_the_engine_folds_each_batchnorm_into_the_layer_before_it():
    """On a network without sums the engine equals zennit's hooks, which merge each BatchNorm with their
    canonizer; on one with a residual ``+`` (which zennit's hooks refuse) it equals the engine on the
    same network with every BatchNorm folded by hand; the model itself is left as it was."""
    plain = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Conv2d(6, 6, 3),
                          nn.BatchNorm2d(6), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 36, 8), nn.BatchNorm1d(8),
                          nn.ReLU(), nn.Linear(8, 4))
    model = ImageClassifier(_with_batch_statistics(plain), (0.5,) * 3, (0.25,) * 3).double().eval()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    targets = torch.tensor([[0, 1], [2, 3]])
    state = {k: v.clone() for k, v in model.state_dict().items()}
    (logits, maps, grad), (logits_z, maps_z, grad_z) = _both_engines(model, x, targets)
    torch.testing.assert_close(logits, logits_z)
    torch.testing.assert_close(maps, maps_z)
    torch.testing.assert_close(grad, grad_z)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())

    residual = ImageClassifier(_with_batch_statistics(ResidualBatchNormNet()), (0.5,) * 3, (0.25,) * 3)
    residual = residual.double().eval()
    with pytest.raises(UnsupportedError, match="adds tensors"):
        _maps_and_grad(residual, x, targets, "zennit")
    by_hand = copy.deepcopy(residual)
    for layers, (i, j) in ((by_hand.net.stem, (0, 1)), (by_hand.net.branch, (0, 1)), (by_hand.net.head, (2, 3))):
        layers[i] = _folded_by_hand(layers[i], layers[j])
        layers[j] = nn.Identity()
    used, *engine = _maps_and_grad(residual, x, targets, "auto")
    used_by_hand, *folded = _maps_and_grad(by_hand, x, targets, "auto")
    assert used and used_by_hand
    for a, b in zip(engine, folded):
        torch.testing.assert_close(a, b)
    assert engine[1].abs().sum() > 0 and engine[2].abs().sum() > 0


def _folded_by_hand(layer: nn.Module, bn: nn.Module) -> nn.Module:
    s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    one = copy.deepcopy(layer)
    with torch.no_grad():
        one.weight.mul_(s.view(-1, *([1] * (one.weight.dim() - 1))))
        bias = torch.zeros_like(bn.running_mean) if layer.bias is None else layer.bias
        one.bias = nn.Parameter((bias - bn.running_mean) * s + bn.bias)
    return one


def test_torchvision_resnet_runs_on_the_engine_as_on_zennits_hooks():
    import torchvision

    torch.manual_seed(10)
    net = _with_batch_statistics(torchvision.models.resnet18(weights=None, num_classes=5))
    model = ImageClassifier(net, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)).double().eval()
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(11))
    targets = torch.tensor([[1, 2], [0, 4]])
    (logits, maps, grad), (logits_z, maps_z, grad_z) = _both_engines(model, x, targets)
    torch.testing.assert_close(logits, logits_z)
    torch.testing.assert_close(maps, maps_z)
    torch.testing.assert_close(grad, grad_z)


def vgg_like() -> nn.Module:
    """In-place ReLUs, max pooling, dropout and a flattening head, as in VGG and AlexNet."""
    torch.manual_seed(4)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                        nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(2),
                        nn.Flatten(), nn.Dropout(0.5), nn.Linear(32, 5))
    return ImageClassifier(net, (0.4,) * 3, (0.3,) * 3).double().eval()


def squeezenet() -> nn.Module:
    """Fire modules: parallel branches joined by ``torch.cat``; random weights (nothing downloaded)."""
    import torchvision

    torch.manual_seed(5)
    net = torchvision.models.squeezenet1_1(weights=None, num_classes=6)
    return ImageClassifier(net, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)).double().eval()


class SplitNet(nn.Module):
    """Channels split by ``chunk`` (a node with several outputs), one half transformed, then joined."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(7)
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.branch = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 6 * 6, 3))
        self.sum = Sum()

    def forward(self, x):
        a, b = self.stem(x).chunk(2, dim=1)
        return self.head(torch.cat([a, self.sum(torch.stack([self.branch(b), b], dim=-1))], dim=1))


def split_net() -> nn.Module:
    return ImageClassifier(SplitNet(), (0.5,) * 3, (0.5,) * 3).double().eval()


@pytest.mark.parametrize("make", [vgg_like, squeezenet, split_net])
def test_graph_engine_equals_zennit_hooks_on_other_architectures(make):
    model = make()
    size = 6 if make is split_net else 48
    x = torch.rand(2, 3, size, size, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    targets = torch.tensor([[1, 2], [0, 1]])
    (_, maps, grad), (_, maps_z, grad_z) = _both_engines(model, x, targets)
    torch.testing.assert_close(maps, maps_z)
    torch.testing.assert_close(grad, grad_z)
    assert maps.abs().sum() > 0 and grad.abs().sum() > 0


def test_tracing_leaves_the_model_as_it_was():
    hc = models.load("mnist_cnn", hierarchy="mnist_c2f").model
    head = hc.fine_head(torch.tensor([0, 1]))
    before = dict(vars(head))
    with DifferentiableLRP(head, "zplus_zbox") as explain:
        assert explain.engine is not None
    assert vars(head).keys() == before.keys()  # fx keeps its constants off the model


def _zplus_inputs(model):
    """For each z+ layer (every Conv2d/Linear but the first): (name, graph says >= 0, its input's minimum)."""
    from core.explain.lrp_graph import _trace
    from core.explain.rules import EXPLICIT_TYPES

    trace, modules = _trace(model), dict(model.named_modules())
    layers = [n for n in trace.graph.nodes if n.op == "call_module" and isinstance(modules[n.target], EXPLICIT_TYPES)]
    minima = {}
    hooks = [modules[n.target].register_forward_pre_hook(
        lambda m, args, name=n.target: minima.__setitem__(name, float(args[0].min()))) for n in layers]
    with torch.no_grad():
        model(torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0)))
    for h in hooks:
        h.remove()
    return [(n.target, n.args[0] in trace.nonneg, minima[n.target]) for n in layers[1:]]


def test_sign_analysis_finds_exactly_the_nonnegative_layer_inputs_of_the_c2f_efficientnet():
    hc = models.load("efficientnet_lite0", hierarchy="imagenet_c2f").model
    layers = _zplus_inputs(hc.coarse)
    assert all(low >= 0 for _, nonneg, low in layers if nonneg)  # sound: z+ may drop x^- there
    assert all(nonneg for _, nonneg, low in layers if low >= 0)  # complete here: after every ReLU6
    assert sum(nonneg for _, nonneg, _ in layers) == 33  # 16 depthwise + 16 projections + the classifier


class _SignNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.after = nn.ModuleList(nn.Conv2d(4, 4, 1) for _ in range(5))
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        a = torch.relu(self.conv(x))
        y = (self.after[0](a * 2.0)  # >= 0
             + self.after[1](a * -1.0)  # <= 0
             + self.after[2](torch.add(a, a, alpha=-1.0))  # a - a: sign unknown to the analysis
             + self.after[3](torch.cat([a, a], 1)[:, ::2].contiguous())  # >= 0
             + self.after[4](a - 1))  # both signs
        return self.head(nn.functional.adaptive_avg_pool2d(y, 1).flatten(1))


def test_sign_analysis_tracks_constants_and_shape_operations():
    from core.explain.lrp_graph import _trace

    model = _SignNet()
    trace, modules = _trace(model), dict(model.named_modules())
    said = {n.target: n.args[0] in trace.nonneg for n in trace.graph.nodes if n.op == "call_module"
            and isinstance(modules[n.target], (nn.Conv2d, nn.Linear))}
    assert said == {"conv": False, "after.0": True, "after.1": False, "after.2": False, "after.3": True,
                    "after.4": False, "head": False}


class _TwoReaders(nn.Module):
    """The input read by two convolutions (one through indexing), and by a third only mixed with the
    first one's output."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(8)
        self.a, self.b, self.c = nn.Conv2d(3, 3, 3, padding=1), nn.Conv2d(3, 3, 1), nn.Conv2d(3, 4, 1)
        self.head = nn.Linear(4 * 5 * 5 + 3 * 5 * 5, 2)
        self.sum = Sum()

    def forward(self, x):
        mixed = self.c(self.sum(torch.stack([x, torch.relu(self.a(x))], dim=-1)))
        return self.head(torch.cat([torch.relu(mixed).flatten(1), torch.relu(self.b(x.flip(3))).flatten(1)], 1))


def test_z_beta_applies_to_every_layer_that_reads_the_input_on_either_engine():
    from core.explain.lrp_graph import input_layer_names

    model = ImageClassifier(_TwoReaders(), (0.4,) * 3, (0.3,) * 3).double().eval()
    assert input_layer_names(model) == {"net.a", "net.b"}  # not net.c: it reads a layer's output too
    x = torch.rand(2, 3, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    (_, maps, grad), (_, maps_z, grad_z) = _both_engines(model, x, torch.tensor([[0, 1], [1, 0]]))
    torch.testing.assert_close(maps, maps_z)
    torch.testing.assert_close(grad, grad_z)


def _small_cnn(classes: int, seed: int, mean=(0.4, 0.5, 0.6)) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 16, classes))
    model = ImageClassifier(net, mean, (0.2, 0.25, 0.3)).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def test_an_assembled_fine_head_explains_each_image_as_its_own_network_alone_does():
    """Each fine network's first layer gets z-beta (zennit's first-layer composite gave it only to the
    first network's), on both engines; a group with no image in the batch is no obstacle."""
    from c2f_toy import TOY
    from core.explain import relevance
    from core.models.hierarchy import HierarchicalClassifier

    fines = [_small_cnn(len(g), 10 + i) for i, g in enumerate(TOY.groups)]
    hc = HierarchicalClassifier.assembled(_small_cnn(3, 1), fines, TOY)
    x = torch.rand(8, 3, 4, 4, generator=torch.Generator().manual_seed(3))
    groups, targets = torch.tensor([0, 1, 1, 0, 1, 0, 1, 1]), torch.tensor([1, 2, 0, 0, 1, 1, 2, 0])
    head = hc.fine_head(groups)  # no image of group 2
    plain = relevance(head, x, targets, "lrp", composite="zplus_zbox")
    with DifferentiableLRP(head, "zplus_zbox") as explain:
        assert explain.engine is not None
        logits, maps = explain(x.clone().requires_grad_(), targets[None])
    for g in (0, 1):
        rows = (groups == g).nonzero().squeeze(1)
        own = relevance(fines[g], x[rows], targets[rows], "lrp", composite="zplus_zbox")
        assert own.abs().sum() > 0
        torch.testing.assert_close(plain[rows], own)
        torch.testing.assert_close(maps[0, rows].detach(), own)
        torch.testing.assert_close(logits[rows, : len(TOY.groups[g])].detach(), fines[g](x[rows]))
    assert torch.isinf(logits[groups == 0, 2]).all()  # padding past M_0 = 2


def test_assembled_networks_must_fit_the_hierarchy_and_normalise_alike():
    from c2f_toy import TOY
    from core.explain import relevance
    from core.models.hierarchy import HierarchicalClassifier

    x, groups = torch.rand(2, 3, 4, 4), torch.tensor([0, 1])
    wrong_size = HierarchicalClassifier.assembled(_small_cnn(3, 1), [_small_cnn(2, 2), _small_cnn(2, 3),
                                                                      _small_cnn(1, 4)], TOY)
    with pytest.raises(AssertionError, match="Fine network 1 must give 3 logits"):
        wrong_size.fine_head(groups)(x)
    unlike = HierarchicalClassifier.assembled(_small_cnn(3, 1), [_small_cnn(2, 2), _small_cnn(3, 3, mean=(0.5,) * 3),
                                                                  _small_cnn(1, 4)], TOY)
    with pytest.raises(UnsupportedError, match="normalise their inputs differently"):
        relevance(unlike.fine_head(groups), x, 0, "lrp", composite="zplus_zbox")


class _Residual(nn.Module):
    """A residual block and a context term broadcast over the pixels, summed with ``+`` (``as_layer`` False)
    or with zennit's ``Sum`` layer over the stacked summands (the same weights)."""

    def __init__(self, as_layer: bool):
        super().__init__()
        torch.manual_seed(13)
        self.stem = nn.Conv2d(3, 6, 3, padding=1, bias=False)
        self.inner = nn.Sequential(nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1, bias=False))
        self.context = nn.Linear(6, 6, bias=False)
        self.head = nn.Linear(6, 3, bias=False)
        # pools get the z-rule (a mean's gradient would lose relevance at zeros); one each: zennit's hooks keep
        # one input per module
        self.pools = nn.ModuleList([nn.AdaptiveAvgPool2d(1), nn.AdaptiveAvgPool2d(1)])
        self.sums = nn.ModuleList([Sum(), Sum()]) if as_layer else None

    def forward(self, x):
        h = torch.relu(self.stem(x))
        b = self.inner(h)
        c = torch.relu(self.context(self.pools[0](h).flatten(1)))[:, :, None, None]  # (N, 6, 1, 1)
        if self.sums is None:
            s = h + b
            s += c  # traced as a sum too
        else:
            s = self.sums[1](torch.stack([self.sums[0](torch.stack([h, b], dim=-1)), c.expand_as(h)], dim=-1))
        return self.head(self.pools[1](torch.relu(s)).flatten(1))


def _residual(as_layer: bool) -> nn.Module:
    return ImageClassifier(_Residual(as_layer), (0.4,) * 3, (0.3,) * 3).double().eval()


def test_a_sum_written_with_plus_gets_the_z_rule_of_a_sum_layer_and_conserves_relevance():
    """Passed by its gradient, a sum would give each summand all of its relevance (here 3 summands, twice)."""
    x = torch.rand(3, 3, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(14))
    targets = torch.tensor([[0, 1, 2], [2, 0, 1]])
    used, logits, maps, grad = _maps_and_grad(_residual(False), x, targets, "auto")
    _, logits_layer, maps_layer, grad_layer = _maps_and_grad(_residual(True), x, targets, "zennit")
    assert used
    torch.testing.assert_close(logits, logits_layer)
    torch.testing.assert_close(maps, maps_layer)
    torch.testing.assert_close(grad, grad_layer)
    torch.testing.assert_close(maps.sum((2, 3, 4)), logits.gather(1, targets.T).T, rtol=1e-3, atol=0)  # bias-free


class _Gated(nn.Module):
    """A squeeze-and-excitation gate: the features times a function of themselves."""

    def __init__(self):
        super().__init__()
        self.conv, self.gate, self.head = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        return self.head((h * torch.sigmoid(self.gate(h.mean((2, 3))))[:, :, None, None]).mean((2, 3)))


def test_lrp_refuses_products_of_branches_and_sums_that_zennits_hooks_would_copy():
    from core.explain import relevance

    x = torch.rand(2, 3, 6, 6, dtype=torch.float64)
    gated = ImageClassifier(_Gated(), (0.5,) * 3, (0.5,) * 3).double().eval()
    for run in (lambda m, **kw: relevance(m, x, 0, "lrp", **kw), lambda m, **kw: DifferentiableLRP(m, **kw)):
        with pytest.raises(UnsupportedError, match=r"no rule here for `mul` in net \(_Gated\): a product"):
            run(gated, composite="zplus_zbox")
        with pytest.raises(UnsupportedError, match=r"adds tensors .*\(`add` in net \(_Residual\)\).*Sum layer"):
            run(_residual(False), composite="epsilon_plus_flat")  # zennit's hooks, not the graph engine
    with_batchnorm = _residual(False)
    with_batchnorm.net.inner.insert(2, nn.BatchNorm2d(6).double().eval())
    assert torch.isfinite(relevance(with_batchnorm, x, 0, "lrp", composite="zplus_zbox")).all()  # folded by the engine
    with pytest.raises(UnsupportedError, match="zennit.layer.Sum"):
        DifferentiableLRP(with_batchnorm, "zplus_zbox", engine="zennit")  # zennit's hooks would copy the sum
    relevance(_residual(True), x, 0, "lrp", composite="epsilon_plus_flat")  # the Sum layer version runs
    unruled = {"`linear` in net (_Functional)": _Functional(), "`matmul` in net (_Functional)": _Functional(True),
               "`softmax` in net (_Functional)": _Functional(softmax=True), "net.1 (LayerNorm)": nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.LayerNorm([4, 4, 4]), nn.Flatten(), nn.Linear(64, 2)), "net.3 (Softmax)":
        nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(64, 2), nn.Softmax(1))}
    for place, net in unruled.items():
        with pytest.raises(UnsupportedError, match=r"no rule here for (.*, )?" + re.escape(place) + "[,:]"):
            DifferentiableLRP(ImageClassifier(net, (0.5,) * 3, (0.5,) * 3).double().eval())


class _Functional(nn.Module):
    """A linear layer called as a function of its own parameters, or as the method ``matmul`` of its input
    (``as_method``), optionally followed by the method ``softmax``."""

    def __init__(self, as_method: bool = False, softmax: bool = False):
        super().__init__()
        self.as_method, self.softmax = as_method, softmax
        self.weight = nn.Parameter(torch.randn(2, 3 * 6 * 6))

    def forward(self, x):
        x = x.flatten(1)
        logits = x.matmul(self.weight.T) if self.as_method else nn.functional.linear(x, self.weight)
        return logits.softmax(1) if self.softmax else logits


class _Rescaled(nn.Module):
    """Pixels mapped to [-1, 1] by arithmetic before the first convolution (not by a ``Normalize``)."""

    def __init__(self):
        super().__init__()
        self.conv, self.head = nn.Conv2d(3, 4, 3), nn.Linear(4 * 4 * 4, 2)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x * 2 - 1)).flatten(1))


def test_z_beta_refuses_input_layers_that_read_more_than_the_normalised_pixels():
    """Its bounds are the images of pixel values 0 and 1 under ``Normalize``: they bound nothing else."""
    from core.explain import relevance

    x = torch.rand(2, 3, 6, 6, dtype=torch.float64)
    batchnorm_first = nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
    for net, reader in ((batchnorm_first, "net.1"), (_Rescaled(), "net.conv")):
        model = ImageClassifier(net, (0.5,) * 3, (0.5,) * 3).double().eval()
        for run in (lambda model=model: relevance(model, x, 0, "lrp", composite="zplus_zbox"),
                    lambda model=model: DifferentiableLRP(model)):
            with pytest.raises(UnsupportedError, match=rf"z-beta bounds .* {re.escape(reader)} reads something"):
                run()
    moved = nn.Sequential(nn.ZeroPad2d(1), nn.Flatten(), nn.Unflatten(1, (3, 8, 8)), nn.Conv2d(3, 4, 3), nn.ReLU(),
                          nn.Flatten(), nn.Linear(144, 2))  # padded and reshaped pixels are still pixels
    with DifferentiableLRP(ImageClassifier(moved, (0.5,) * 3, (0.5,) * 3).double().eval()) as explain:
        assert explain.engine is not None
