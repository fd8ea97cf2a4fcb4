"""Adversarial training (eq. 2) as a setting of the one trainer: the loss by hand, the setting's checks, and
the committed mnist_cnn_robust: its card's figures, and it resists I-FGSM better than mnist_cnn on a slice."""
import hashlib
import json

import pytest
import torch
import torch.nn.functional as F

from core.attacks.ifgsm import ifgsm
from core.data import mnist_split
from core.errors import InputError
from core.models import load
from core.models.registry import ASSET_MODELS
from core.models.training import CARD_EPS, TRAINABLE, TrainConfig, adversarial_loss, new_model, train_mnist_cnn

CARD = ASSET_MODELS / "mnist_cnn_robust.json"


def test_eq2_weights_the_clean_and_the_adversarial_loss():
    model = new_model(0)
    x, y = (t[:8] for t in mnist_split("train"))
    x_adv = (x + 0.1).clamp(0, 1)
    config = TrainConfig(adv_eps=0.1, adv_weight=0.3)
    seen = []

    def adversary(m, images, labels, seed):
        seen.append((m.training, seed))
        return x_adv

    loss = adversarial_loss(model, x, y, config, adversary, seed=7)
    expected = 0.3 * F.cross_entropy(model(x), y) + 0.7 * F.cross_entropy(model(x_adv), y)
    torch.testing.assert_close(loss, expected)
    assert seen == [(False, 7)] and model.training  # attacked in eval mode, back to training after
    torch.testing.assert_close(adversarial_loss(model, x, y, TrainConfig(), None, 0), F.cross_entropy(model(x), y))


def test_adversarial_settings_are_checked():
    with pytest.raises(InputError):
        TrainConfig(adv_eps=0.1, adv_weight=1.5).validate()
    x, y = (t[:8] for t in mnist_split("train"))
    with pytest.raises(InputError, match="adversary"):
        train_mnist_cnn(x, y, config=TrainConfig(epochs=1, adv_eps=0.1))
    assert TRAINABLE["mnist_cnn_robust"].adv_eps == 0.12


def test_the_committed_robust_model_matches_its_card_and_resists_ifgsm_better():
    card = json.loads(CARD.read_text())
    assert hashlib.sha256((ASSET_MODELS / card["weights_file"]).read_bytes()).hexdigest() == card["weights_sha256"]
    assert card["adversarial_training"]["eps"] == 0.12 and card["test_accuracy"] >= 0.95
    assert set(card["adversarial_test_accuracy"]) == {str(e) for e in CARD_EPS}
    assert card["command"] == f"python -m core train mnist_cnn_robust --epochs {card['epochs']} --seed {card['seed']}"
    x, y = (t[:100] for t in mnist_split("test"))
    accuracy = {}
    for name in ("mnist_cnn", "mnist_cnn_robust"):
        model = load(name, device="cpu").model
        x_adv = ifgsm(model, x, y, eps=0.12).x_adv
        with torch.no_grad():
            accuracy[name] = float((model(x_adv).argmax(1) == y).float().mean())
    assert accuracy["mnist_cnn_robust"] >= accuracy["mnist_cnn"] + 0.2
