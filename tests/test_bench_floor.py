"""The convolution work of one LRP attack step (bench.bench_attacks.convolution_work), counted by hand:
the rules run no convolution beyond the passes the README counts."""
import torch
from torch import nn

from bench.bench_attacks import convolution_work
from core.attacks.lrp_c2f import lrp_loss
from core.explain import DifferentiableLRP
from core.explain.rules import fixed_weights


def test_lrp_step_convolution_work_matches_the_hand_count():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3)).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    x = torch.rand(2, 3, 8, 8)
    targets = torch.tensor([[0, 0], [1, 1]])  # two maps (T = 2), as LRPC explains r_org and r_adv

    def lrp_step():
        xa = x.clone().requires_grad_()
        with DifferentiableLRP(net, "zplus_zbox") as explain:
            _, maps = explain(xa, targets, "logit")
            explain.grad(lrp_loss(maps, 2.0).sum(), xa)

    def gradient_step():
        xa = x.clone().requires_grad_()
        torch.autograd.grad(net(xa)[:, 0].sum(), xa)

    with fixed_weights():
        lrp = convolution_work(lrp_step)
    first, signed, dense = 4 * 6 * 6 * 27, 4 * 4 * 4 * 36, 3 * 64  # multiply-accumulates per image
    flops = 2 * len(x)  # per multiply-accumulate and image
    # per layer: the model's forward and backward (2m), then the rule and its derivative: z-beta 12m
    # (first layer), z+ on a signed input 12m (the second conv reads the first directly), z+ after a ReLU 6m
    assert lrp == flops * ((2 + 12) * first + (2 + 12) * signed + (2 + 6) * dense)
    assert convolution_work(gradient_step) == flops * 2 * (first + signed + dense)
