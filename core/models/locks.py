"""One lock per set of model weights, held while the model is in use; the model runs in eval mode.

zennit canonizers and rules, and captum's DeepLIFT hooks, change a model while they work, so two
attributions must never run on the same model at once. Heads that share a network (the coarse and
fine heads of a derived C2F classifier) share its parameters, so the lock is keyed on the first
parameter tensor, not on the module object.

While the lock is held the model is in eval mode (BatchNorm uses its running statistics, dropout is
off), as torchattacks runs the models it attacks: a model handed over in train mode would otherwise
change its running statistics with every attack step and decide differently from one call to the next.
Each submodule's own mode is restored when the outermost holder lets go.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

_GUARD = threading.Lock()
_ATTRIBUTE = "_xadv_lock"


def _lock(model: nn.Module) -> threading.RLock:
    """The re-entrant lock guarding ``model``'s weights (created on first use, kept on the weights)."""
    owner = next(model.parameters(), model)
    with _GUARD:
        lock = getattr(owner, _ATTRIBUTE, None)
        if lock is None:
            lock = threading.RLock()
            setattr(owner, _ATTRIBUTE, lock)
        return lock


@contextmanager
def model_lock(model: nn.Module) -> Iterator[None]:
    """Hold ``model``'s lock, with ``model`` in eval mode until the block ends (then each submodule's
    mode is as it was)."""
    with _lock(model):
        training = [module for module in model.modules() if module.training]
        model.eval()
        try:
            yield
        finally:
            for module in training:
                module.training = True
