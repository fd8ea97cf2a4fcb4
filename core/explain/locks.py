"""One lock per set of model weights.

zennit canonizers and rules, and captum's DeepLIFT hooks, change a model while they work, so two
attributions must never run on the same model at once. Heads that share a network (the coarse and
fine heads of a derived C2F classifier) share its parameters, so the lock is keyed on the first
parameter tensor, not on the module object.
"""
from __future__ import annotations

import threading

from torch import nn

_GUARD = threading.Lock()
_ATTRIBUTE = "_xadv_lock"


def model_lock(model: nn.Module) -> threading.RLock:
    """The re-entrant lock guarding ``model``'s weights (created on first use, kept on the weights)."""
    owner = next(model.parameters(), model)
    with _GUARD:
        lock = getattr(owner, _ATTRIBUTE, None)
        if lock is None:
            lock = threading.RLock()
            setattr(owner, _ATTRIBUTE, lock)
        return lock
