"""Structured joint embedding (SJE, Akata et al. 2015) as the attributes paper uses it (eq. 3-5, 7, 8).

- Compatibility (eq. 3): ``F(x, y; W) = theta(x)^T W phi(y)``, W (D, K), phi (C, K).
- Loss (eq. 4): the ranking hinge ``Delta(y_n, y) + F(x_n, y) - F(x_n, y_n)``, with ``Delta`` the 0/1 loss
  (``margin`` for every wrong class), taken at its most violating class and clipped at 0 (``reduction="max"``,
  SJE's structured SVM; ``"sum"`` adds every wrong class's hinge instead). W is learnt by minibatch Adam on
  the mean loss (our choice of optimiser; the paper does not name one), seeded, from W = 0.
- Predicted attributes (eq. 5): ``A = theta(x) W`` (N, K).
- The attribute-based classifier: the class whose attribute vector phi(y) is nearest to A in Euclidean
  distance (the paper's rule, ``rule="nearest"``), or ``argmax_y F(x, y)`` (``rule="compatibility"``).
- The most discriminative attributes: of a clean image against the wrong class y (eq. 7), the largest
  ``A_i - phi(y)_i``; of an adversarial image against the true class (eq. 8), the largest ``Â_i - phi(y_n)_i``.
  ``top`` k of them, or a fraction (the paper's 20 % for the distances); ``absolute=True`` ranks by
  ``|A_i - phi_i|`` instead (our option; the paper's argmax is signed).

theta is standardised with the training features' mean and scale (one scalar: their mean l2 norm after
centring) before W, a choice that keeps one learning rate for any backbone; ``SJE.attributes`` applies it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from core.errors import InputError
from core.validate import check_choice, check_count, check_number

RULES = ("nearest", "compatibility")


@dataclass(frozen=True)
class SJEConfig:
    """How W is learnt (see the module docstring)."""

    epochs: int = 60
    batch_size: int = 100
    lr: float = 0.01
    margin: float = 1.0  # Delta(y_n, y) for y != y_n
    weight_decay: float = 1e-4
    reduction: str = "max"
    seed: int = 0

    def __post_init__(self):
        check_count("SJE epochs", self.epochs, 1)
        check_count("SJE batch size", self.batch_size, 1)
        check_number("SJE learning rate", self.lr, "positive", lambda v: 0 < v < math.inf)
        check_number("SJE margin", self.margin, "positive", lambda v: 0 < v < math.inf)
        check_number("SJE weight decay", self.weight_decay, "at least 0", lambda v: 0 <= v < math.inf)
        check_choice("SJE loss reduction", self.reduction, ("max", "sum"))


@dataclass(frozen=True)
class SJE:
    """A learnt embedding: ``W`` (D, K), the feature standardisation (``mean`` (D,), ``scale``), phi (C, K)
    and the mean training loss of each epoch."""

    W: torch.Tensor
    mean: torch.Tensor
    scale: float
    phi: torch.Tensor
    losses: tuple[float, ...] = ()

    def attributes(self, theta: torch.Tensor) -> torch.Tensor:
        """Eq. 5: ``A = theta(x) W`` (N, K), theta standardised as in training."""
        return ((theta - self.mean.to(theta)) / self.scale) @ self.W.to(theta)

    def compatibility(self, theta: torch.Tensor) -> torch.Tensor:
        """Eq. 3 for every class: ``F(x, y) = theta(x)^T W phi(y)`` (N, C)."""
        return self.attributes(theta) @ self.phi.to(theta).T

    def classify(self, theta: torch.Tensor, rule: str = "nearest") -> torch.Tensor:
        """The attribute-based classifier's class per image (N,)."""
        return classify(self.attributes(theta), self.phi, rule) if rule == "nearest" else \
            self.compatibility(theta).argmax(1)

    def to_dict(self) -> dict:
        return {"features": self.W.shape[0], "attributes": self.W.shape[1], "classes": self.phi.shape[0],
                "final_loss": self.losses[-1] if self.losses else None, "epochs": len(self.losses)}


def ranking_loss(scores: torch.Tensor, labels: torch.Tensor, margin: float = 1.0,
                 reduction: str = "max") -> torch.Tensor:
    """Eq. 4 per image (N,): ``max_y [Delta(y_n, y) + F(x, y) - F(x, y_n)]_+`` (``"max"``) or the sum over
    ``y != y_n`` of the clipped hinges (``"sum"``), with ``scores`` F (N, C) and Delta the 0/1 loss times
    ``margin``."""
    true = scores.gather(1, labels[:, None])
    delta = torch.full_like(scores, margin).scatter(1, labels[:, None], 0.0)
    hinge = delta + scores - true
    if reduction == "max":
        return hinge.amax(1).clamp_min(0)
    return hinge.clamp_min(0).scatter(1, labels[:, None], 0.0).sum(1)


def fit_sje(theta: torch.Tensor, labels: torch.Tensor, phi: torch.Tensor, config: SJEConfig = SJEConfig()) -> SJE:
    """Learn W on features ``theta`` (N, D), class labels (N,) and class attributes ``phi`` (C, K) (eq. 4)."""
    if theta.ndim != 2 or labels.shape != (theta.shape[0],) or phi.ndim != 2 or len(theta) == 0:
        raise InputError(f"SJE needs features (N, D), N labels and class attributes (C, K); got "
                         f"{tuple(theta.shape)}, {tuple(labels.shape)} and {tuple(phi.shape)}.")
    if int(labels.min()) < 0 or int(labels.max()) >= phi.shape[0]:
        raise InputError(f"SJE labels must lie in 0..{phi.shape[0] - 1}, one per class attribute row.")
    if not (bool(torch.isfinite(theta).all()) and bool(torch.isfinite(phi).all())):
        raise InputError("SJE got NaN or infinite features or class attributes.")
    theta, phi, labels = theta.detach().float(), phi.detach().float().to(theta.device), labels.to(theta.device)
    mean = theta.mean(0)
    scale = float((theta - mean).norm(dim=1).mean().clamp_min(1e-12))
    z = (theta - mean) / scale * math.sqrt(theta.shape[1])  # unit variance per feature on average
    W = torch.zeros(theta.shape[1], phi.shape[1], device=theta.device, requires_grad=True)
    optimiser = torch.optim.Adam([W], lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    losses = []
    for _ in range(config.epochs):
        order = torch.randperm(len(z), generator=generator).to(z.device)
        total = torch.zeros((), device=z.device)
        for start in range(0, len(z), config.batch_size):
            idx = order[start:start + config.batch_size]
            loss = ranking_loss(z[idx] @ W @ phi.T, labels[idx], config.margin, config.reduction).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += loss.detach() * len(idx)
        losses.append(total / len(z))
    return SJE(W.detach(), mean, scale / math.sqrt(theta.shape[1]), phi, tuple(torch.stack(losses).tolist()))


def classify(attributes: torch.Tensor, phi: torch.Tensor, rule: str = "nearest") -> torch.Tensor:
    """The class of each row of predicted ``attributes`` (N, K): nearest phi(y) in l2 (``"nearest"``), or
    largest ``A . phi(y)`` (``"compatibility"``)."""
    check_choice("attribute classifier rule", rule, RULES)
    phi = phi.to(attributes)
    if rule == "nearest":
        return torch.cdist(attributes, phi).argmin(1)
    return (attributes @ phi.T).argmax(1)


def selection_size(k: int, top: int | float) -> int:
    """How many attributes ``top`` asks for out of ``k``: a count (int), or a fraction in (0, 1] rounded up."""
    if isinstance(top, float):
        check_number("The fraction of attributes", top, "in (0, 1]", lambda f: 0 < f <= 1)
        return max(1, math.ceil(top * k))
    return min(check_count("The number of attributes", top, 1), k)


def discriminative(attributes: torch.Tensor, reference: torch.Tensor, top: int | float = 0.2,
                   absolute: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 7 / 8: the ``top`` attributes of each row with the largest ``A_i - reference_i`` (``reference`` the
    wrong class's phi for a clean image, eq. 7, or the true class's for an adversarial one, eq. 8), as
    (indices (N, k) best first, their differences (N, k))."""
    difference = attributes - reference
    score = difference.abs() if absolute else difference
    k = selection_size(attributes.shape[1], top)
    order = score.topk(k, dim=1).indices
    return order, difference.gather(1, order)


def selection_mask(indices: torch.Tensor, k: int) -> torch.Tensor:
    """(N, K) bool: True at each row's ``indices`` (N, m)."""
    return torch.zeros(indices.shape[0], k, dtype=torch.bool, device=indices.device).scatter(1, indices, True)
