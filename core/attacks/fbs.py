"""Forward-backward splitting (FBS) for sparse attacks, the first attack of the GSE talk and paper
(Sadiku, Wagner, Pokutta, ICLR 2025): eq. 1, ``min_w L(x + w, t) + lambda ||w||_p^p``, solved by

    w^{k+1} = prox_{alpha lambda ||.||_p^p}(w^k - alpha grad_w L(x + w^k, t))

with Nesterov momentum (Beck and Teboulle's FISTA sequence ``t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2``),
``x + w`` projected on the pixel box [0, 1] after every step. ``L`` is the Carlini-Wagner margin loss
``max(Z_l - max_{i != l} Z_i + kappa, 0)`` untargeted, ``max(max_{i != t} Z_i - Z_t + kappa, 0)`` targeted,
as in the paper's code.

The proximal operator ``prox_{lam |.|^p}(w) = argmin_y 1/2 (y - w)^2 + lam |y|^p`` acts per entry and has a
closed form for p in {0, 1/2, 2/3, 1}:

- p = 0, hard thresholding: ``w`` where ``|w| > sqrt(2 lam)``, else 0;
- p = 1, soft thresholding: ``sign(w) max(|w| - lam, 0)``;
- p = 1/2, half thresholding (Xu et al. 2012, for ``(y - w)^2 + l |y|^{1/2}``, so ``l = 2 lam``): zero where
  ``|w| <= 54^{1/3} / 4 l^{2/3}``, else ``2/3 w (1 + cos(2 pi / 3 - 2/3 phi))``,
  ``phi = arccos(l / 8 (|w| / 3)^{-3/2})``;
- p = 2/3 (Cao, Sun, Xu 2013, for ``(y - w)^2 + l |y|^{2/3}``, ``l = 2 lam``): zero where
  ``|w| <= 2/3 (3 l^3)^{1/4}``, else ``sign(w) ((a + sqrt(2 |w| / a - a^2)) / 2)^3`` with
  ``a = 2 / sqrt(3) l^{1/4} cosh(phi / 3)^{1/2}``, ``phi = arccosh(27 w^2 / 16 l^{-3/2})``.

Momentum: ``momentum="fista"`` extrapolates, ``z = y_{k+1} + (t_k - 1) / t_{k+1} (y_{k+1} - y_k)``;
``momentum="code"`` is the combination the paper's code uses, ``z = t_k / t_{k+1} y_{k+1} + (1 - t_k / t_{k+1}) y_k``;
``momentum="none"`` is plain FBS.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.attacks.goals import Goal, Misclassified, Targeted
from core.attacks.loop import Progress
from core.attacks.pgd import class_count
from core.attacks.result import AttackResult
from core.errors import InputError
from core.models.locks import model_lock
from core.validate import check_choice, check_count, check_images_for, check_labels, check_number

NORMS = (0.0, 0.5, 2 / 3, 1.0)
MOMENTA = ("fista", "code", "none")


def check_p(p: object) -> float:
    """``p`` is one of 0, 1/2, 2/3, 1 (the quasi-norms with a closed-form prox)."""
    value = check_number("p", p, "one of 0, 1/2, 2/3, 1", lambda v: any(abs(v - n) < 1e-9 for n in NORMS))
    return min(NORMS, key=lambda n: abs(n - value))


def threshold(lam: torch.Tensor | float, p: float) -> torch.Tensor | float:
    """The largest ``|w|`` that ``prox_{lam |.|^p}`` sends to zero (see the module docstring)."""
    p = check_p(p)
    if p == 0:
        return (2 * lam) ** 0.5
    if p == 1:
        return lam
    if p == 0.5:
        return 54 ** (1 / 3) / 4 * (2 * lam) ** (2 / 3)
    return 2 / 3 * (3 * (2 * lam) ** 3) ** 0.25


def critical_lambda(a: torch.Tensor, p: float) -> torch.Tensor:
    """The inverse of ``threshold``: the ``lam`` whose threshold is ``a`` (for ``a >= 0``), i.e. the largest
    ``lam`` that leaves an entry of size ``a`` non-zero."""
    p = check_p(p)
    if p == 0:
        return a ** 2 / 2
    if p == 1:
        return a
    if p == 0.5:
        return (a * 4 / 54 ** (1 / 3)) ** 1.5 / 2
    return ((1.5 * a) ** 4 / 3) ** (1 / 3) / 2


def prox(w: torch.Tensor, lam: torch.Tensor | float, p: float) -> torch.Tensor:
    """``prox_{lam |.|^p}(w) = argmin_y 1/2 (y - w)^2 + lam |y|^p`` per entry (``lam`` >= 0 broadcast over ``w``);
    a new tensor, ``w`` untouched."""
    p = check_p(p)
    lam = torch.as_tensor(lam, dtype=w.dtype, device=w.device).expand_as(w)
    a = w.abs()
    keep = a > threshold(lam, p)
    if p == 0:
        return torch.where(keep, w, torch.zeros_like(w))
    if p == 1:
        return torch.sign(w) * (a - lam).clamp_min(0)
    safe = torch.where(keep, a, torch.ones_like(a))  # the formulas below only where the entry survives
    ell = torch.where(keep, 2 * lam, torch.zeros_like(lam))
    if p == 0.5:
        phi = torch.arccos((ell / 8 * (safe / 3) ** -1.5).clamp(-1, 1))
        y = 2 / 3 * safe * (1 + torch.cos(2 * math.pi / 3 - 2 / 3 * phi))
    else:
        phi = torch.arccosh((27 * safe ** 2 / 16 * ell.clamp_min(1e-30) ** -1.5).clamp_min(1))
        root = 2 / math.sqrt(3) * ell ** 0.25 * torch.cosh(phi / 3) ** 0.5
        y = ((root + (2 * safe / root.clamp_min(1e-30) - root ** 2).clamp_min(0).sqrt()) / 2) ** 3
        y = torch.where(ell > 0, y, safe)
    return torch.where(keep, torch.sign(w) * y, torch.zeros_like(w))


def cw_loss(logits: torch.Tensor, labels: torch.Tensor, targeted: bool, kappa: float = 0.0) -> torch.Tensor:
    """Carlini-Wagner's margin loss per row: ``max(Z_l - max_{i != l} Z_i + kappa, 0)`` untargeted (``labels``
    the true classes), ``max(max_{i != t} Z_i - Z_t + kappa, 0)`` targeted (``labels`` the targets)."""
    own = logits.gather(1, labels[:, None]).squeeze(1)
    other = logits.scatter(1, labels[:, None], float("-inf")).amax(1)
    margin = other - own if targeted else own - other
    return F.relu(margin + kappa)


def nesterov(t: float) -> float:
    """FISTA's next momentum coefficient ``t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2``."""
    return (1 + math.sqrt(1 + 4 * t * t)) / 2


def momentum_point(new: torch.Tensor, old: torch.Tensor, t: float, t_next: float, kind: str) -> torch.Tensor:
    """The point the next gradient is taken at (see ``momentum`` in the module docstring)."""
    if kind == "fista":
        return new + (t - 1) / t_next * (new - old)
    if kind == "code":
        return t / t_next * new + (1 - t / t_next) * old
    return new


def goal_and_labels(model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None
                    ) -> tuple[Goal, torch.Tensor]:
    """The goal (``Misclassified(y)`` or ``Targeted(target)``) and the labels the loss pushes, checked."""
    classes = class_count(model, x)
    y = check_labels("labels y", y, x.shape[0], classes).to(x.device)
    if target is None:
        return Misclassified(y), y
    target = check_labels("targets", target, x.shape[0], classes).to(x.device)
    if bool((target == y).any()):
        raise InputError("A target equals the image's label; give a target class other than the label.")
    return Targeted(target), target


def loss_gradient(model: nn.Module, x_adv: torch.Tensor, labels: torch.Tensor, targeted: bool, kappa: float,
                  penalty=None, x: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits at ``x_adv = x + w`` and the gradient of ``sum CW(x_adv) (+ penalty(w))`` with respect to ``w``
    (equal to the one with respect to ``x_adv``)."""
    x_adv = x_adv.detach().requires_grad_()
    logits = model(x_adv)
    loss = cw_loss(logits, labels, targeted, kappa).sum()
    if penalty is not None:
        loss = loss + penalty(x_adv - x).sum()
    (grad,) = torch.autograd.grad(loss, x_adv)
    return logits.detach(), grad


def fbs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, target: torch.Tensor | None = None, p: float = 0.5,
        lam: float = 0.05, alpha: float = 0.05, steps: int = 200, kappa: float = 0.0, momentum: str = "fista",
        progress: Progress | None = None) -> AttackResult:
    """The FBS attack (eq. 1 of the GSE paper, see the module docstring) on a batch ``x`` (N, C, H, W) in
    [0, 1] with labels ``y`` (or a ``target`` per image): ``steps`` proximal gradient steps of size ``alpha``
    with ``lam`` the weight of ``||w||_p^p``; an image stops at its first step that meets the goal."""
    check_images_for(model, x)
    p = check_p(p)
    lam = check_number("lambda", lam, "non-negative and finite", lambda v: 0 <= v < math.inf)
    alpha = check_number("The step size alpha", alpha, "positive and finite", lambda v: 0 < v < math.inf)
    steps = check_count("The number of steps", steps, 1)
    kappa = check_number("kappa", kappa, "non-negative and finite", lambda v: 0 <= v < math.inf)
    check_choice("momentum", momentum, MOMENTA)
    x0 = x.detach()
    with model_lock(model):
        goal, labels = goal_and_labels(model, x0, y, target)
        n = x0.shape[0]
        rows = torch.arange(n, device=x0.device)
        cur, old, t = x0.clone(), torch.zeros_like(x0), 1.0  # cur = x + w, the iterate, always in [0, 1]
        x_adv, success = x0.clone(), torch.zeros(n, dtype=torch.bool, device=x0.device)
        used = torch.zeros(n, dtype=torch.long, device=x0.device)
        for k in range(steps + 1):
            logits, grad = loss_gradient(model, cur, labels[rows], target is not None, kappa)
            won = goal(rows, logits)
            x_adv[rows[won]] = cur[won]
            success[rows[won]] = True
            rows, cur, old, grad = rows[~won], cur[~won], old[~won], grad[~won]
            if k == steps or rows.numel() == 0:
                break
            with torch.no_grad():
                new = prox(cur - x0[rows] - alpha * grad, alpha * lam, p)
                t_next = nesterov(t)
                cur = (x0[rows] + momentum_point(new, old, t, t_next, momentum)).clamp(0, 1)
                old, t = new, t_next
                used[rows] += 1
            if progress is not None:
                progress((k + 1) / steps, f"FBS step {k + 1} of {steps}, {rows.numel()} image(s) left")
    params = {"p": p, "lam": lam, "alpha": alpha, "steps": steps, "kappa": kappa, "momentum": momentum,
              "targeted": target is not None}
    return AttackResult("FBS", x_adv, x_adv - x0, success, used, params)
