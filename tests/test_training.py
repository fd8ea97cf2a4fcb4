"""Training of mnist_cnn: the committed weights and card, determinism, loss and progress."""
import hashlib
import json

import pytest
import torch

from core.data import mnist_split
from core.errors import InputError
from core.models import load
from core.models.mnist_cnn import MnistCNN
from core.models.registry import ASSET_MODELS
from core.models.training import TrainConfig, evaluate, random_shift, train_and_save, train_mnist_cnn

CARD = ASSET_MODELS / "mnist_cnn.json"
WEIGHTS = ASSET_MODELS / "mnist_cnn.pt"
SMALL = TrainConfig(epochs=2, batch_size=50)


@pytest.fixture(scope="module")
def subset():
    images, labels = mnist_split("train")
    return images[:500], labels[:500]


def test_committed_weights_reach_97_percent_and_match_the_card():
    card = json.loads(CARD.read_text())
    images, labels = mnist_split("test")
    loaded = load("mnist_cnn", device="cpu")
    _, correct = evaluate(loaded.model, images, labels)
    assert correct / len(labels) >= 0.97
    assert correct == card["test_correct"]
    assert abs(correct / len(labels) - card["test_accuracy"]) < 1e-9
    assert card["command"] == f"python -m core train mnist_cnn --epochs {card['epochs']} --seed {card['seed']}"


def test_card_sha256_matches_the_weights_file():
    card = json.loads(CARD.read_text())
    assert hashlib.sha256(WEIGHTS.read_bytes()).hexdigest() == card["weights_sha256"]


@pytest.fixture(scope="module")
def small_run(subset):
    """One short run (2 epochs on 500 images) and the progress calls it made."""
    calls = []
    result = train_mnist_cnn(*subset, seed=3, config=SMALL, device="cpu", progress=lambda f, m: calls.append((f, m)))
    return result, calls


def test_training_is_deterministic_for_a_seed(subset, small_run):
    a = small_run[0].net.state_dict()
    b = train_mnist_cnn(*subset, seed=3, config=SMALL, device="cpu").net.state_dict()
    assert a.keys() == MnistCNN().state_dict().keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = train_mnist_cnn(subset[0][:100], subset[1][:100], seed=4, config=TrainConfig(epochs=1), device="cpu")
    assert not torch.equal(a["0.weight"], c.net.state_dict()["0.weight"])


def test_training_lowers_the_loss_and_reports_increasing_progress(small_run):
    result, calls = small_run
    assert result.epoch_losses[-1] < result.epoch_losses[0] < 2.4
    fractions = [f for f, _ in calls]
    assert fractions == sorted(set(fractions)) and fractions[-1] == 1.0
    assert all(isinstance(m, str) and m for _, m in calls)


def test_training_does_not_touch_the_global_rng_or_its_inputs(subset):
    images, labels = subset
    before_images, state = images.clone(), torch.random.get_rng_state()
    train_mnist_cnn(images[:200], labels[:200], seed=0, config=TrainConfig(epochs=1), device="cpu")
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(images, before_images)


def test_random_shift_moves_each_image_by_at_most_max_shift():
    x = torch.zeros(64, 1, 28, 28)
    x[:, 0, 14, 14] = 1.0
    shifted = random_shift(x, 2, torch.Generator().manual_seed(0))
    assert shifted.shape == x.shape and torch.equal(shifted.sum((1, 2, 3)), torch.ones(64))
    rows, cols = shifted[:, 0].nonzero()[:, 1], shifted[:, 0].nonzero()[:, 2]
    assert rows.sub(14).abs().max() <= 2 and cols.sub(14).abs().max() <= 2
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 5
    assert random_shift(x, 0, torch.Generator()) is x


def test_train_and_save_writes_loadable_weights_and_a_card(tmp_path, monkeypatch):
    images, labels = mnist_split("train")
    monkeypatch.setattr("core.models.training.mnist_split",
                        lambda split: (images[:300], labels[:300]) if split == "train" else mnist_split(split))
    calls = []
    assert train_and_save("mnist_cnn", epochs=1, seed=1, out_dir=tmp_path, progress=lambda f, m: calls.append(f)) == 0
    card = json.loads((tmp_path / "mnist_cnn.json").read_text())
    assert card["command"] == "python -m core train mnist_cnn --epochs 1 --seed 1"
    assert card["weights_sha256"] == hashlib.sha256((tmp_path / "mnist_cnn.pt").read_bytes()).hexdigest()
    assert card["train_images"] == 300 and card["test_images"] == 1000 and calls == [1.0]
    loaded = load("mnist_cnn", weights_path=tmp_path / "mnist_cnn.pt", device="cpu")
    _, correct = evaluate(loaded.model, *mnist_split("test"))
    assert correct == card["test_correct"]


def test_bad_requests_raise_input_errors(subset):
    with pytest.raises(InputError, match="trainable models"):
        train_and_save("vgg16")
    with pytest.raises(InputError, match="epochs >= 1"):
        train_mnist_cnn(*subset, config=TrainConfig(epochs=0))
    with pytest.raises(InputError, match="28, 28"):
        train_mnist_cnn(torch.zeros(4, 3, 28, 28), torch.zeros(4, dtype=torch.long))
