"""LRP: conservation, hand-computed values, the differentiable path against finite differences."""
import copy

import pytest
import torch
from torch import nn

from core.errors import InputError, UnsupportedError
from core.explain import DifferentiableLRP, relevance
from core.models.wrapper import ImageClassifier


def bias_free_relu_cnn() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        nn.Linear(32, 16, bias=False), nn.ReLU(),
        nn.Linear(16, 5, bias=False),
    )
    return net.eval()


@pytest.mark.parametrize("composite", ["zplus_zbox", "epsilon_plus_flat", "epsilon_gamma_box"])
def test_relevance_is_conserved_on_a_bias_free_relu_network(composite):
    model = ImageClassifier(bias_free_relu_cnn(), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)).eval()
    x = torch.rand(4, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    logits = model(x)
    target = logits.argmax(1)  # positive logits, so every layer has positive total relevance
    r = relevance(model, x, target, "lrp", composite=composite, init="logit", epsilon=1e-9)
    chosen = logits.gather(1, target[:, None])[:, 0]
    torch.testing.assert_close(r.sum(dim=(1, 2, 3)), chosen, rtol=1e-4, atol=0)


def test_zplus_zbox_on_a_tiny_network_equals_hand_computation():
    # x = (0.5, 0.25); layer 1 W1 = [[1, -1], [2, 1]] (rows: hidden units), ReLU; layer 2 w2 = (1, 1).
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False))
    net[0].weight.data = torch.tensor([[1.0, -1.0], [2.0, 1.0]])
    net[2].weight.data = torch.tensor([[1.0, 1.0]])
    model = nn.Sequential(nn.Flatten(), net)  # no Normalize: ZBox bounds are l = 0, h = 1
    x = torch.tensor([0.5, 0.25]).view(1, 1, 1, 2)
    # hidden a = relu(0.5 - 0.25, 1 + 0.25) = (0.25, 1.25); output relevance 1 (onehot).
    # z+ at layer 2: R_hidden = a_j w_j+ / sum = (0.25, 1.25) / 1.5.
    r_hidden = torch.tensor([0.25, 1.25]) / 1.5
    # z-beta at layer 1, unit j: z_ij = x_i w_ij - l w_ij^+ - h w_ij^-  with l = 0, h = 1
    #   unit 1 (w = 1, -1): z = (0.5 - 0, -0.25 + 1) = (0.5, 0.75), sum 1.25
    #   unit 2 (w = 2, 1):  z = (1.0, 0.25), sum 1.25
    expected = r_hidden[0] * torch.tensor([0.5, 0.75]) / 1.25 + r_hidden[1] * torch.tensor([1.0, 0.25]) / 1.25
    r = relevance(model, x, 0, "lrp", composite="zplus_zbox", epsilon=1e-9)
    torch.testing.assert_close(r.view(2), expected, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(r.sum(), torch.tensor(1.0), rtol=1e-5, atol=0)


def smooth_model() -> nn.Module:
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3))
    return ImageClassifier(net.double(), (0.5,), (0.5,)).double().eval()


def test_differentiable_lrp_gradient_matches_finite_differences():
    model = smooth_model()
    x0 = torch.rand(2, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(4)) * 0.8 + 0.1
    target = torch.tensor([0, 2])
    weights = torch.randn(2, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(5))

    def loss_and_grad(x):
        x = x.clone().requires_grad_()
        with DifferentiableLRP(model, "zplus_zbox") as explain:
            _, (r,) = explain(x, target)
            loss = (r * weights).sum() + r.clamp(min=0).pow(2).sum()
            return loss.detach(), explain.grad(loss, x)

    loss, grad = loss_and_grad(x0)
    direction = torch.randn(x0.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    h = 1e-6
    numeric = (loss_and_grad(x0 + h * direction)[0] - loss_and_grad(x0 - h * direction)[0]) / (2 * h)
    torch.testing.assert_close((grad * direction).sum(), numeric, rtol=1e-4, atol=1e-8)
    assert grad.abs().sum() > 0


def test_differentiable_lrp_equals_plain_lrp():
    model = smooth_model()
    x = torch.rand(2, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    plain = relevance(model, x, [1, 2], "lrp", composite="zplus_zbox")
    with DifferentiableLRP(model, "zplus_zbox") as explain:
        _, (r,) = explain(x.clone().requires_grad_(), torch.tensor([1, 2]))
    torch.testing.assert_close(r.detach(), plain)


def test_lrp_leaves_the_model_unchanged():
    model = ImageClassifier(bias_free_relu_cnn(), (0.5,) * 3, (0.25,) * 3).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(2, 3, 12, 12)
    out_before = model(x)
    relevance(model, x, 1, "lrp", composite="epsilon_gamma_box")
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert torch.equal(model(x), out_before)
    assert not model._forward_hooks and all(not m._forward_hooks for m in model.modules())


def test_bad_inputs_are_refused_with_clear_messages():
    model = ImageClassifier(bias_free_relu_cnn(), (0.5,) * 3, (0.25,) * 3).eval()
    x = torch.rand(1, 3, 12, 12)
    with pytest.raises(InputError, match="composite"):
        relevance(model, x, 0, "lrp", composite="nope")
    with pytest.raises(InputError, match="Target"):
        relevance(model, x, 7, "lrp")
    with pytest.raises(InputError, match="NaN"):
        relevance(model, x * float("nan"), 0, "lrp")
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        relevance(model, x + 2, 0, "saliency")
    with pytest.raises(InputError, match="method"):
        relevance(model, x, 0, "gradcam")
    with pytest.raises(UnsupportedError, match="attention"):
        relevance(TinyAttention(), x, 0, "lrp")


class TinyAttention(nn.Module):
    """A vision-transformer-like toy: tokens from a linear patch map, then self-attention."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(432, 8)
        self.attention = nn.MultiheadAttention(4, 1, batch_first=True)

    def forward(self, x):
        tokens = self.embed(x.flatten(1)).view(-1, 2, 4)
        return self.attention(tokens, tokens, tokens)[0].flatten(1)


def depthwise_net() -> nn.Module:
    """Grouped, strided, asymmetrically padded convolutions with biases, signed activations."""
    torch.manual_seed(8)
    net = nn.Sequential(
        nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(3, 8, 3, stride=2), nn.ReLU6(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU6(),
        nn.Conv2d(8, 6, 1),  # linear bottleneck: signed output
        nn.Conv2d(6, 6, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(6 * 4 * 4, 5),
    )
    return ImageClassifier(net, (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)).eval()


@pytest.mark.parametrize("signed_inputs", ["split", "as_written"])
def test_zplus_zbox_maps_have_their_logits_sign_everywhere_unless_zplus_is_taken_as_written(signed_inputs):
    # z+'s terms x+ w+ and x- w- and z-beta's (x - l) w+ + (x - h) w- (x within [l, h]) are never negative,
    # so relevance keeps its seed's sign down to the pixels: the poster's R^- terms vanish for a positive
    # logit. Taken as written, z+'s x w+ turns sign where a hidden input is negative (the linear bottleneck).
    model = depthwise_net()
    x = torch.rand(6, 3, 15, 15, generator=torch.Generator().manual_seed(2))
    logits = model(x).detach()
    seeds = []
    for target in (logits.argmax(1), logits.argmin(1)):
        seed = logits.gather(1, target[:, None]).view(-1, 1, 1, 1)
        r = relevance(model, x, target, "lrp", composite="zplus_zbox", init="logit", signed_inputs=signed_inputs)
        against = (r * seed.sign()).clamp(max=0).flatten(1).sum(1)  # relevance of the other sign, per map
        if signed_inputs == "split":
            assert (against == 0).all()
        else:
            assert (against < 0).all()
        seeds.append(seed)
    assert (seeds[0] > 0).all() and (seeds[1] < 0).all()  # both signs of seed were tried


@pytest.mark.parametrize("ignore_bias", [True, False])
def test_explicit_rules_equal_zennits_zplus_and_zbox(ignore_bias):
    from zennit.attribution import Gradient
    from zennit.composites import SpecialFirstLayerMapComposite, layer_map_base
    from zennit.rules import Pass, ZBox, ZPlus
    from zennit.types import Linear

    from core.explain.bounds import input_bounds
    from core.models.wrapper import Normalize

    model = depthwise_net()
    x = torch.rand(3, 3, 14, 14, generator=torch.Generator().manual_seed(9))
    low, high = input_bounds(model)
    zero = ["bias"] if ignore_bias else None
    reference = SpecialFirstLayerMapComposite(
        layer_map=[(Normalize, Pass())] + layer_map_base() + [(Linear, ZPlus(zero_params=zero))],
        first_map=[(Linear, ZBox(low, high, zero_params=zero))],
    )
    target = torch.tensor([0, 3, 4])
    with Gradient(model, reference) as attributor:
        _, expected = attributor(x, torch.eye(5)[target])
    ours = relevance(model, x, target, "lrp", composite="zplus_zbox", ignore_bias=ignore_bias)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("name", ["resnet18", "vgg16"])
@pytest.mark.parametrize("composite", ["epsilon_plus_flat", "epsilon_gamma_box", "zplus_zbox"])
def test_lrp_runs_on_the_seeds_torchvision_architectures_and_undoes_its_canonizers(name, composite):
    from core.models.torchvision_zoo import IMAGENET_MEAN, IMAGENET_STD, architecture

    torch.manual_seed(0)
    model = ImageClassifier(architecture(name), IMAGENET_MEAN, IMAGENET_STD).eval()
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = model(x)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    r = relevance(model, x, [3, 7], "lrp", composite=composite)
    assert r.shape == x.shape and torch.isfinite(r).all() and r.abs().sum() > 0
    with torch.no_grad():
        assert torch.equal(model(x), before)  # BatchNorm merging and residual sums were undone
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("pool", [nn.AdaptiveAvgPool2d((7, 5)), nn.AdaptiveAvgPool2d(1), nn.AvgPool2d(3, 2, 1),
                                  nn.AvgPool2d(2)])
def test_explicit_average_pool_rule_equals_zennits_norm(pool):
    from zennit.attribution import Gradient
    from zennit.composites import LayerMapComposite
    from zennit.rules import Norm

    from core.explain.rules import ExplicitNorm

    torch.manual_seed(10)
    model = nn.Sequential(pool, nn.Flatten())
    x = torch.rand(2, 3, 9, 10) + 0.1
    out_size = model(x).shape[1]
    seed = torch.rand(2, out_size)
    results = []
    for rule in (Norm(), ExplicitNorm()):
        with Gradient(model, LayerMapComposite([(type(pool), rule)])) as attributor:
            results.append(attributor(x.clone(), seed)[1])
    torch.testing.assert_close(results[1], results[0], rtol=1e-5, atol=1e-7)


class ResidualPoolNet(nn.Module):
    """Conv, a residual ``Sum`` block and average pooling: the layers of EfficientNet that use the z-rule."""

    def __init__(self):
        super().__init__()
        from zennit.layer import Sum

        torch.manual_seed(11)
        self.stem = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU())
        self.branch = nn.Sequential(nn.Conv2d(6, 6, 3, padding=1, groups=6), nn.ReLU6(), nn.Conv2d(6, 6, 1))
        self.sum = Sum()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(24, 4))

    def forward(self, x):
        y = self.stem(x)
        return self.head(self.pool(self.sum(torch.stack([y, self.branch(y)], dim=-1))))


def test_batched_differentiable_lrp_of_two_targets_equals_two_plain_maps_through_sums_and_pools():
    model = ImageClassifier(ResidualPoolNet(), (0.5,) * 3, (0.25,) * 3).eval()
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(12))
    targets = torch.tensor([[0, 1, 2], [3, 2, 1]])
    with DifferentiableLRP(model, "zplus_zbox") as explain:
        xa = x.clone().requires_grad_()
        _, maps = explain(xa, targets)
        grad = explain.grad(maps.pow(2).sum(), xa)
    for t in range(2):
        torch.testing.assert_close(maps[t].detach(), relevance(model, x, targets[t], "lrp", composite="zplus_zbox"))
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


class _BatchNormAfterTwoConvs(nn.Module):
    """``a`` then ``b`` then ``bn``, listed in that order, so zennit's sequential merge folds ``bn`` into ``b``.
    ``feed="sum"``: bn reads ``a(x) + b(a(x))`` (same channel count: the merge would be silently wrong);
    ``"cat"``: bn reads ``[a(x), b(a(x))]`` and ``forward`` cannot be traced (data-dependent branch);
    ``"b"``: bn reads ``b`` only (a correct merge), not traceable either."""

    def __init__(self, feed: str):
        super().__init__()
        self.feed = feed
        channels = 6 if feed == "cat" else 4  # what bn reads
        self.a, self.b = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 2 if feed == "cat" else 4, 1)
        self.bn, self.head = nn.BatchNorm2d(channels), nn.Sequential(nn.Flatten(), nn.Linear(channels * 64, 3))

    def forward(self, x):
        if self.feed != "sum" and x.sum() < 0:  # data-dependent: torch.fx cannot trace it
            x = -x
        y = self.a(x)
        z = self.b(y)
        return self.head(self.bn({"sum": y + z, "cat": torch.cat([y, z], 1), "b": z}[self.feed]))


@pytest.mark.parametrize("feed", ["sum", "cat"])
@pytest.mark.parametrize("composite", ["epsilon_plus_flat", "zplus_zbox"])
def test_lrp_refuses_batchnorms_that_the_layer_before_does_not_feed_and_changes_nothing(feed, composite):
    torch.manual_seed(0)
    model = _BatchNormAfterTwoConvs(feed).eval()
    model.bn.running_mean.uniform_(-1, 1)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(2, 3, 8, 8)
    with pytest.raises(UnsupportedError, match=r"does not feed bn \(it reads something else"):
        relevance(model, x, [0, 1], "lrp", composite=composite)
    with pytest.raises(UnsupportedError, match=r"does not feed bn \(it reads something else"):
        DifferentiableLRP(model, composite)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


class _UnusedBatchNorm(nn.Module):
    """conv -> BN -> ReLU -> head, plus a BatchNorm never called: after the used conv (``after="conv"``),
    or in a branch of its own that forward never runs (``after="branch"``, as a training-only head)."""

    def __init__(self, after: str):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        if after == "conv":  # listed between the conv and its BatchNorm: zennit would fold it into the conv
            self.unused = nn.BatchNorm2d(4)
        self.bn = nn.BatchNorm2d(4)
        if after == "branch":
            self.unused = nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4))
        self.head = nn.Sequential(nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 3))

    def forward(self, x):
        return self.head(self.bn(self.conv(x)))


def test_lrp_refuses_an_unused_batchnorm_that_would_fold_into_a_layer_in_use_and_ignores_a_harmless_one():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 8, 8)
    model = _UnusedBatchNorm("conv").eval()
    model.unused.running_var.uniform_(2, 3)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(UnsupportedError, match=r"does not feed unused \(it is never called, and conv is\)"):
        relevance(model, x, [0, 1], "lrp", composite="epsilon_plus_flat")
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    branch = _UnusedBatchNorm("branch").eval()
    branch.bn.running_var.uniform_(2, 3)
    plain = copy.deepcopy(branch)
    plain.unused = nn.Identity()  # the same network without the branch it never runs
    for composite in ("epsilon_plus_flat", "zplus_zbox"):
        torch.testing.assert_close(relevance(branch, x, [0, 1], "lrp", composite=composite),
                                   relevance(plain, x, [0, 1], "lrp", composite=composite))


def test_lrp_takes_a_batchnorm_fed_by_the_layer_before_it_in_an_untraceable_model():
    model = _BatchNormAfterTwoConvs("b").eval()
    x = torch.rand(2, 3, 8, 8)
    r = relevance(model, x, [0, 1], "lrp", composite="epsilon_plus_flat")
    assert r.shape == x.shape and torch.isfinite(r).all()
