"""A small coarse-to-fine network for attack tests (6 fine classes in 3 coarse groups)."""
import torch
from torch import nn

from core.models.hierarchy import HierarchicalClassifier, Hierarchy
from core.models.wrapper import ImageClassifier

TOY = Hierarchy("toy", ("a", "b", "c"), ((0, 3), (1, 4, 5), (2,)), (("0", "3"), ("1", "4", "5"), ("2",)))


def toy_c2f(seed: int = 0) -> HierarchicalClassifier:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 16, 6),
    )
    flat = ImageClassifier(net, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)).eval()
    for p in flat.parameters():
        p.requires_grad_(False)
    return HierarchicalClassifier.from_flat(flat, TOY, 6)


def toy_images(n: int = 8, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


def toy_c2f_with_batchnorm_and_dropout(seed: int = 0) -> HierarchicalClassifier:
    """``toy_c2f`` with a BatchNorm (non-trivial running statistics) and a dropout layer."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.5),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 16, 6),
    )
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.2, 0.2)
        net[1].running_var.uniform_(0.5, 2.0)
    flat = ImageClassifier(net, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    for p in flat.parameters():
        p.requires_grad_(False)
    return HierarchicalClassifier.from_flat(flat, TOY, 6)
