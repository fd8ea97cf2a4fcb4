"""The attributes paper's figures, one function each: the distances d1 and d2 (eq. 12-15) and the robust
ratio R (eq. 9-11)."""
from __future__ import annotations

import torch

from core.errors import InputError


def _masked(difference: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return difference if mask is None else difference * mask.to(difference)


def d1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 12 / 14: ``||A - Â||_2`` per image (N,) between two rows of predicted attributes (clean and
    adversarial, eq. 12; adversarial through the robust and the standard model, eq. 14), over the attributes
    in ``mask`` (N, K) (the selected most discriminative ones; all where None)."""
    if a.shape != b.shape:
        raise InputError(f"d1 compares attribute rows of one shape; got {tuple(a.shape)} and {tuple(b.shape)}.")
    return _masked(a - b, mask).norm(dim=1)


def d2(phi: torch.Tensor, true: torch.Tensor, wrong: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 13 / 15: ``||phi(y_n) - phi(y)||_2`` per image (N,) between the true and the wrong class's attributes
    (``phi`` (C, K), class indices (N,)), over the attributes in ``mask``."""
    return _masked(phi[true] - phi[wrong], mask).norm(dim=1)


def accuracy_drop(clean_correct: torch.Tensor, adversarial_correct: torch.Tensor) -> float:
    """Eq. 9 / 10: accuracy on clean images minus accuracy on adversarial ones (fractions of one set of images)."""
    if clean_correct.shape != adversarial_correct.shape or clean_correct.numel() == 0:
        raise InputError("An accuracy drop compares the same images, clean and adversarial.")
    return float(clean_correct.float().mean() - adversarial_correct.float().mean())


def robust_ratio(clean_correct: torch.Tensor, standard_adv_correct: torch.Tensor,
                 robust_adv_correct: torch.Tensor) -> float | None:
    """Eq. 11: ``R = L_R / L_S`` with ``L_R = f(x) - f^r(x̂)`` (eq. 9: the standard classifier's clean accuracy
    minus the robust one's on its adversarial images) and ``L_S = f(x) - f(x̂)`` (eq. 10). None where ``L_S``
    is 0 (the attack cost the standard classifier nothing: R is undefined)."""
    loss_standard = accuracy_drop(clean_correct, standard_adv_correct)
    loss_robust = accuracy_drop(clean_correct, robust_adv_correct)
    return None if loss_standard == 0 else loss_robust / loss_standard
