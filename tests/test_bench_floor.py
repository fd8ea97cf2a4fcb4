"""The LRPC benchmark's convolution-work count (bench.bench_attacks.convolution_floor), by hand."""
import torch
from torch import nn

from bench.bench_attacks import convolution_floor


def test_convolution_floor_counts_each_rule_by_hand():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))
    first, signed, dense = 4 * 6 * 6 * 27, 4 * 4 * 4 * 36, 3 * 64  # multiply-accumulates of each layer
    # z-beta (first), z+ on a signed input (the second conv reads the first directly), z+ after a ReLU
    lrp = (2 + 11) * first + (2 + 12) * signed + (2 + 6) * dense
    pgd = 2 * (first + signed + dense)
    assert convolution_floor(net, torch.rand(2, 3, 8, 8)) == lrp / pgd
