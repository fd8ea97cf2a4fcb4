"""Model registry: the embedded EfficientNet-Lite0, loading rules, user weights files, availability."""
import pytest
import torch
from PIL import Image

from core.__main__ import main
from core.data import load_gallery
from core.errors import InputError, WeightsUnavailableError
from core.models import (
    REGISTRY,
    HierarchicalClassifier,
    ImageClassifier,
    Normalize,
    availability,
    efficientnet_lite,
    load,
    top_k,
)
from core.models.mnist_cnn import MEAN, STD, MnistCNN

IMAGENET_CATS = range(281, 286)


@pytest.fixture(scope="module")
def lite0():
    return load("efficientnet_lite0", device="cpu")


@pytest.fixture(scope="module")
def chelsea():
    return load_gallery("chelsea").tensor


def test_embedded_lite0_matches_the_reference_package(lite0):
    from efficientnet_lite_pytorch import EfficientNet

    reference = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=efficientnet_lite.bundled_weights_path()
    ).eval()
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    mean = torch.tensor(efficientnet_lite.MEAN).view(1, 3, 1, 1)
    std = torch.tensor(efficientnet_lite.STD).view(1, 3, 1, 1)
    with torch.no_grad():
        ours, theirs = lite0.model(x), reference((x - mean) / std)
    assert (ours - theirs).abs().max() < 1e-3


def test_load_returns_a_frozen_pixel_space_model_in_eval_mode(lite0):
    model = lite0.model
    assert isinstance(model, ImageClassifier) and isinstance(model.normalize, Normalize)
    assert not any(m.training for m in model.modules())
    assert not any(p.requires_grad for p in model.parameters())
    assert torch.allclose(model.normalize.mean.flatten(), torch.tensor(efficientnet_lite.MEAN))
    assert lite0.info.input.size == 224 and len(lite0.info.class_names) == 1000


def test_chelsea_is_a_cat(lite0, chelsea):
    top = top_k(lite0.model, chelsea, lite0.info.class_names, k=5)[0]
    assert top[0].index in IMAGENET_CATS


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(InputError) as err:
        load("no_such_net")
    assert all(name in str(err.value) for name in REGISTRY)


def test_torchvision_model_without_cached_weights_says_how_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailableError) as err:
        load("resnet18")
    message = str(err.value)
    assert "--weights" in message and "--download resnet18" in message
    assert not any(tmp_path.rglob("*.pth")), "nothing may be downloaded"


def test_a_local_state_dict_file_is_used(tmp_path):
    torch.manual_seed(5)
    net = MnistCNN().eval()
    path = tmp_path / "mine.pt"
    torch.save(net.state_dict(), path)
    default, mine = load("mnist_cnn", device="cpu"), load("mnist_cnn", weights_path=path, device="cpu")
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        expected = net((x - MEAN[0]) / STD[0])
        assert torch.allclose(mine.model(x), expected, atol=1e-6)
    assert mine.info.weights_digest != default.info.weights_digest
    assert "mine.pt" in mine.info.weights_source


class _Payload:
    """Pickles as a call to ``open(path, "w")``: loading it unsafely would create ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def test_unsafe_or_wrong_files_are_refused(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_bytes(b"not a model at all")
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (8, 8)).save(photo)
    marker = tmp_path / "executed"
    pickled = tmp_path / "payload.pt"
    torch.save({"x": _Payload(marker)}, pickled)
    wrong = tmp_path / "wrong.pt"
    torch.save({"layer.weight": torch.zeros(2, 2)}, wrong)
    good = MnistCNN().state_dict()
    fewer_classes = tmp_path / "five_digits.pt"  # the right names, a head for 5 classes
    torch.save({k: v[:5] if v.shape[:1] == (10,) else v for k, v in good.items()}, fewer_classes)
    broken = tmp_path / "nan.pt"
    torch.save({k: v.clone().fill_(float("nan")) if k.endswith("bias") else v for k, v in good.items()}, broken)
    for path, match in ((text, "not a PyTorch state-dict"), (photo, "not a PyTorch state-dict.*Unsupported operand"),
                        (pickled, "not a PyTorch state-dict.*Unsupported global"),
                        (wrong, "does not match the mnist_cnn architecture"),
                        (fewer_classes, r"2 tensors have other shapes, e.g. .*\(5,\) \(expected \(10,\)\)"),
                        (broken, "NaN or infinite weights"), (tmp_path, "is a folder; give the weights file in it")):
        with pytest.raises(WeightsUnavailableError, match=match) as refused:
            load("mnist_cnn", weights_path=path)
        assert "False" not in str(refused.value)  # never torch's advice to load it with weights_only=False
    assert not marker.exists(), "loading a pickled object ran its code"


def test_hierarchy_gives_a_coarse_to_fine_classifier(chelsea):
    loaded = load("efficientnet_lite0", hierarchy="imagenet_c2f", device="cpu")
    assert isinstance(loaded.model, HierarchicalClassifier)
    decision = loaded.model.decide(chelsea)
    assert 0 <= int(decision.coarse[0]) < loaded.info.hierarchy.num_coarse


def test_availability_lists_every_model_with_an_offline_flag():
    rows = {row["name"]: row for row in availability()}
    assert list(rows) == list(REGISTRY)
    assert rows["efficientnet_lite0"]["offline"] and rows["mnist_cnn"]["offline"]
    assert all(isinstance(row["offline"], bool) for row in rows.values())


def test_models_command_lists_every_model(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in REGISTRY)


def test_a_tabular_model_is_a_first_class_model(tmp_path, monkeypatch):
    """A model of feature rows (S-CFE's kind) loads like any other: standardised inside, its input
    described by feature names, units and ranges, rows checked against them."""
    from torch import nn

    from core.data import takes_digits
    from core.models import TabularClassifier, TabularInput, registry

    features = TabularInput(("alcohol", "ash"), ("% vol", "g/l"), (10.0, 1.0), (15.0, 4.0), (13.0, 2.4), (1.0, 0.3))
    torch.manual_seed(0)
    net = nn.Linear(2, 3)
    torch.save(net.state_dict(), tmp_path / "wine.pt")
    spec = registry.ModelSpec(name="wine_toy", description="toy", input=features, class_names=lambda: ("a", "b", "c"),
                              architecture=lambda: nn.Linear(2, 3), offline_weights=lambda: tmp_path / "wine.pt",
                              lrp_supported=False)
    monkeypatch.setitem(registry.REGISTRY, "wine_toy", spec)
    loaded = load("wine_toy", device="cpu")
    rows = torch.tensor([[13.0, 2.4], [14.5, 3.1]])
    assert isinstance(loaded.model, TabularClassifier)
    expected = net((rows - torch.tensor([13.0, 2.4])) / torch.tensor([1.0, 0.3]))
    torch.testing.assert_close(loaded.model(rows), expected.detach())
    loaded.info.input.check(rows)
    with pytest.raises(InputError, match="Feature values must lie in their ranges"):
        loaded.info.input.check(rows + torch.tensor([0.0, 1.0]))  # ash 4.1 > 4
    with pytest.raises(InputError, match=r"rows of 2 features shaped \(N, 2\)"):
        loaded.info.input.check(torch.rand(2, 3))
    assert loaded.info.input.describe() == "2 features" and not takes_digits(loaded.info.input)
    assert loaded.info.model_id.startswith("wine_toy/flat/")
