"""Training of the S-CFE study's MLPs (``python -m core train housing_mlp | wine_mlp | cancer_mlp``) by the
project's one trainer (``core.models.training``: its epoch loop and evaluation), on the fixed splits of
``core.data.tabular``.

As in the S-CFE code: Adam at a constant learning rate of 0.005, 80 epochs, batches of 32, cross-entropy
(here on two logits); deterministic for a seed (initialisation in a forked RNG, shuffling from a
``torch.Generator``). The card records the data, split, command, accuracies and the weights' digest.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from core.data.tabular import SPLIT_SEED, TEST_ROWS, tabular_dataset
from core.errors import InputError
from core.models import training
from core.models.registry import ASSET_MODELS, TABULAR_MODELS, spec
from core.models.tabular_mlp import HIDDEN, TabularMLP

CONFIG = training.TrainConfig(epochs=80, batch_size=32, lr=5e-3, max_shift=0)


def new_model(name: str, seed: int) -> torch.nn.Module:
    """A freshly initialised model ``name`` (its MLP inside its ``TabularInput``'s wrapper); the global RNG
    is left untouched."""
    dataset = TABULAR_MODELS[name]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = TabularMLP(len(tabular_dataset(dataset).feature_names), HIDDEN[dataset])
    return spec(name).input.wrap(net)


def train_tabular(name: str, epochs: int | None = None, seed: int = 0, out_dir: str | Path | None = None,
                  progress=None) -> int:
    """Train ``name`` on its data set's ``train`` split, evaluate on ``test``, write ``<name>.pt`` (the inner
    net's state dict) and the card ``<name>.json``; returns 0."""
    if name not in TABULAR_MODELS:
        raise InputError(f"Cannot train {name!r} here; tabular models: {', '.join(TABULAR_MODELS)}.")
    config = CONFIG if epochs is None else training.TrainConfig(epochs=epochs, batch_size=32, lr=5e-3, max_shift=0)
    config.validate()
    report = progress or (lambda fraction, message: print(message, flush=True))
    data = tabular_dataset(TABULAR_MODELS[name])
    (x, y), test = data.split("train"), data.split("test")
    model = new_model(name, seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.betas)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)  # constant, as in the S-CFE code
    started, losses = time.perf_counter(), []
    for epoch in range(config.epochs):
        losses.append(training.run_epoch(model, optimizer, scheduler, x, y, config, generator))
        if (epoch + 1) % 10 == 0 or epoch + 1 == config.epochs:
            report((epoch + 1) / config.epochs, f"epoch {epoch + 1}/{config.epochs}: train loss {losses[-1]:.4f}")
    seconds = time.perf_counter() - started
    train_loss, train_correct = training.evaluate(model, x, y)
    test_loss, test_correct = training.evaluate(model, *test)
    out = Path(out_dir) if out_dir is not None else ASSET_MODELS
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{name}.pt"
    torch.save(model.net.state_dict(), weights)
    card = {
        "model": name,
        "architecture": f"core.models.tabular_mlp.TabularMLP({len(data.feature_names)}, {HIDDEN[data.name]}, 2), "
                        "inputs standardised inside with the train split's mean and std",
        "command": f"python -m core train {name} --epochs {config.epochs} --seed {seed}",
        "data": f"{data.description}; rows permuted by numpy.random.default_rng(SPLIT_SEED={SPLIT_SEED}), the last "
                f"{TEST_ROWS} test, the others train",
        "classes": list(data.class_names),
        "train_rows": len(y), "test_rows": len(test[1]), "seed": seed, "epochs": config.epochs,
        "optimizer": {"name": "Adam", "lr": config.lr, "betas": list(config.betas), "lr_schedule": "constant"},
        "hyper_parameters": {"batch_size": config.batch_size},
        "test_accuracy": test_correct / len(test[1]), "test_correct": test_correct, "test_loss": test_loss,
        "train_accuracy": train_correct / len(y), "train_loss": train_loss,
        "epoch_losses": losses, "training_seconds": seconds, "torch_version": torch.__version__,
        "weights_file": weights.name, "weights_sha256": training.sha256_of(weights),
    }
    (out / f"{name}.json").write_text(json.dumps(card, indent=2) + "\n")
    if progress is None:
        print(f"test accuracy {card['test_accuracy']:.2%}, train accuracy {card['train_accuracy']:.2%}, "
              f"{seconds:.1f}s; wrote {weights} and {out / f'{name}.json'}")
    return 0
