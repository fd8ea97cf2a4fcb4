"""StrAttack, structured adversarial attacks by ADMM (Xu, Liu, Zhang, Chen, Liu, Wang, Erdogmus, Lin,
ICLR 2019), the GSE paper's group-sparse baseline.

Problem (eq. 5 of the StrAttack paper, our notation): ``min c f(x + z) + gamma ||delta||_2^2 +
tau sum_G ||y_G||_2 + h(w)`` subject to ``z = delta = y = w``, with ``f`` the Carlini-Wagner margin loss
(``core.attacks.fbs.cw_loss``) and ``h`` the indicator of ``{x + w in [0, 1], |w| <= eps}``. Linearised ADMM,
per iteration k (eqs. 7-9 and Proposition 1 of the paper):

- ``delta = rho / (rho + 2 gamma) (z - u / rho)``;
- ``w = Proj_box(z - s / rho)``;
- for each group partition j: ``y_j,G = max(1 - tau / (rho ||b_G||_2), 0) b_G``, ``b = z - v_j / rho``
  (group soft thresholding);
- ``z = (eta z + rho (delta + w + sum_j y_j) + u + s + sum_j v_j - c grad f(x + z)) / (eta + (2 + J) rho)``,
  ``eta = alpha sqrt(k + 1)``;
- ``u += rho (delta - z)``, ``v_j += rho (y_j - z)``, ``s += rho (w - z)``.

Overlapping groups (the paper's Section 3.3): groups of ``size`` x ``size`` pixels (all channels) overlap by
half a group; they fall into J = 4 partitions of non-overlapping groups (the grid shifted by 0 or size / 2
down and across), each with its own copy ``y_j = z``. ``overlap=False`` keeps the one partition (the GSE
code's StrAttack).

The candidate adversary of an iteration is ``x + y`` with ``y`` (the first partition's copy, which carries
the group sparsity) clipped to ``[-eps, eps]`` and the image to [0, 1], so that both constraints hold
exactly (ADMM meets ``y = w`` only in the limit). The binary search over ``c`` (``search_steps``) keeps,
per image, the successful candidate of least l2 norm; it halves between the bounds once an upper bound is
known and multiplies ``c`` by 5 before. The paper's refinement stage (retraining on the found support) is
left out.

Defaults from the GSE code's ``attackParams.json`` and ``StrAttack`` class on [-1, 1] images, converted to
[0, 1] so that the iterates are the same halved: ``rho = 4 * 1``, ``gamma = 4 * 1``, ``tau = 2 * 2``,
``alpha = 4 * 5``, ``eps = 1 / 2``; ``c`` 0.25 (small images) or 2.5 (ImageNet-size); groups of 2 x 2 pixels
(8 x 8 above 64 pixels a side); 200 iterations, 8 search steps. (The code averages ``c f`` over the batch
before taking the gradient, which makes an image's step depend on the batch size; here each image takes
its own ``c grad f``.)
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.attacks.fbs import cw_loss, goal_and_labels
from core.attacks.loop import Progress
from core.attacks.result import AttackResult
from core.errors import InputError
from core.models.locks import model_lock
from core.validate import check_count, check_images_for, check_number


def group_shrink(b: torch.Tensor, tau: float, size: int, shift: tuple[int, int]) -> torch.Tensor:
    """Group soft thresholding ``max(1 - tau / ||b_G||_2, 0) b_G`` over the groups of ``size`` x ``size`` pixels
    (all channels) of the grid shifted by ``shift``; pixels of a partial group at the border form their own
    smaller group."""
    top, left = shift
    h, w = b.shape[-2:]
    pads = (left, (-(w + left)) % size, top, (-(h + top)) % size)
    padded = F.pad(b, pads)
    norms = F.avg_pool2d(padded.pow(2).sum(1, keepdim=True), size, stride=size).mul(size * size).sqrt()
    scale = (1 - tau / norms.clamp_min(1e-12)).clamp_min(0)
    scale = scale.repeat_interleave(size, 2).repeat_interleave(size, 3)
    return (padded * scale)[..., top: top + h, left: left + w]


def strattack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, target: torch.Tensor | None = None,
              c: float | None = None, size: int | None = None, overlap: bool = True, rho: float = 4.0,
              gamma: float = 4.0, tau: float = 4.0, alpha: float = 20.0, eps: float = 0.5, steps: int = 200,
              search_steps: int = 8, kappa: float = 0.0, progress: Progress | None = None) -> AttackResult:
    """StrAttack on a batch ``x`` (N, C, H, W) in [0, 1] with labels ``y`` (or a ``target`` per image); see the
    module docstring."""
    check_images_for(model, x)
    large = max(x.shape[-2:]) > 64
    c = check_number("c", (2.5 if large else 0.25) if c is None else c, "positive and finite",
                     lambda v: 0 < v < math.inf)
    size = check_count("The group size", (8 if large else 2) if size is None else size, 1)
    if size > min(x.shape[-2:]):
        raise InputError(f"The group size {size} exceeds the image ({x.shape[-2]} x {x.shape[-1]}).")
    for name, value in (("rho", rho), ("gamma", gamma), ("alpha", alpha), ("eps", eps)):
        check_number(name, value, "positive and finite", lambda v: 0 < v < math.inf)
    tau = check_number("tau", tau, "non-negative and finite", lambda v: 0 <= v < math.inf)
    kappa = check_number("kappa", kappa, "non-negative and finite", lambda v: 0 <= v < math.inf)
    steps = check_count("The number of iterations", steps, 1)
    search_steps = check_count("The number of search steps", search_steps, 1)
    half = size // 2
    shifts = [(0, 0), (0, half), (half, 0), (half, half)] if overlap and half > 0 else [(0, 0)]
    x0 = x.detach()
    n = x0.shape[0]
    targeted = target is not None
    low, high = torch.maximum(-x0, torch.full_like(x0, -eps)), torch.minimum(1 - x0, torch.full_like(x0, eps))
    with model_lock(model):
        goal, labels = goal_and_labels(model, x0, y, target)
        cs = torch.full((n,), c, device=x0.device, dtype=x0.dtype)
        lower, upper = torch.zeros_like(cs), torch.full_like(cs, 1e10)
        best, best_l2 = x0.clone(), torch.full_like(cs, math.inf)
        used = torch.zeros(n, dtype=torch.long, device=x0.device)
        for step in range(search_steps):
            z, u, s = (torch.zeros_like(x0) for _ in range(3))
            ys, vs = [torch.zeros_like(x0) for _ in shifts], [torch.zeros_like(x0) for _ in shifts]
            won_now = torch.zeros(n, dtype=torch.bool, device=x0.device)
            for k in range(steps):
                with torch.no_grad():
                    delta = rho / (rho + 2 * gamma) * (z - u / rho)
                    w = torch.minimum(torch.maximum(z - s / rho, low), high)
                    ys = [group_shrink(z - v / rho, tau, size, sh) for v, sh in zip(vs, shifts)]
                zg = (x0 + z).detach().requires_grad_()
                loss = (cs * cw_loss(model(zg), labels, targeted, kappa)).sum()
                (grad,) = torch.autograd.grad(loss, zg)
                with torch.no_grad():
                    eta = alpha * math.sqrt(k + 1)
                    z = (eta * z + rho * (delta + w + sum(ys)) + u + s + sum(vs) - grad) / (eta + (2 + len(ys)) * rho)
                    u = u + rho * (delta - z)
                    vs = [v + rho * (yj - z) for v, yj in zip(vs, ys)]
                    s = s + rho * (w - z)
                    cand = (x0 + ys[0].clamp(-eps, eps)).clamp(0, 1)
                    ok = goal(torch.arange(n, device=x0.device), model(cand))
                    dist = (cand - x0).flatten(1).norm(dim=1)
                    better = ok & (dist < best_l2)
                    best[better], best_l2[better] = cand[better], dist[better]
                    won_now |= ok
                    used += 1
                if progress is not None:
                    progress((step + (k + 1) / steps) / search_steps,
                             f"StrAttack search step {step + 1} of {search_steps}, iteration {k + 1} of {steps}")
            upper = torch.where(won_now, torch.minimum(upper, cs), upper)
            lower = torch.where(won_now, lower, torch.maximum(lower, cs))
            cs = torch.where(upper < 1e9, (lower + upper) / 2, torch.where(won_now, cs, cs * 5))
    success = torch.isfinite(best_l2)
    params = {"c": c, "size": size, "overlap": overlap, "rho": rho, "gamma": gamma, "tau": tau, "alpha": alpha,
              "eps": eps, "steps": steps, "search_steps": search_steps, "kappa": kappa, "targeted": targeted}
    return AttackResult("StrAttack", best, best - x0, success, used, params)
