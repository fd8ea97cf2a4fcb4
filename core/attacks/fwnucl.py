"""FWnucl, the Frank-Wolfe attack over a nuclear group-norm ball (Kazemi, Kerdreux, Wang, "Generating
structured adversarial attacks using Frank-Wolfe method", 2021), the GSE paper's group-sparse baseline.

The ball ``B = {w : sum_g sum_c ||w_{g,c}||_* <= eps}`` over non-overlapping ``size`` x ``size`` pixel groups
``g`` of each channel ``c`` (nuclear norm ``||.||_*``, the sum of singular values). Frank-Wolfe maximises the
cross-entropy of the label (untargeted) or minimises that of the target:

    s_t = argmax_{s in B} <grad L(x + w_t), s>,   w_{t+1} = (1 - gamma_t) w_t + gamma_t s_t,  w_0 = 0.

The linear minimisation oracle is exact: the dual norm of the group norm is ``max_{g,c} sigma_1(G_{g,c})``, so
``s_t = eps u_1 v_1^T`` on the one group and channel whose gradient block has the largest top singular value
``sigma_1`` (``u_1, v_1`` its singular vectors), zero elsewhere. (The GSE paper's code picks the group by the
sum over channels of the nuclear norms and puts ``eps u_1 v_1^T`` on every channel of it; ours is the oracle
of the ball as the paper states it.) ``gamma_t``: golden-section line search on the loss in [0, 1] (25
sections, the code's; ``step_rule="line"``) or the open-loop ``2 / (t + 2)`` (``step_rule="open"``).

Defaults from the GSE code: eps 5 on its [-1, 1] images is 2.5 here (the nuclear norm is linear in the
scale), groups of 4 x 4 pixels for images of at most 64 pixels a side, 32 x 32 above; 200 iterations. Pixels
beyond the last whole group are never changed. ``x + w`` is clipped to [0, 1] to be judged, and an image
stops at its first iterate whose clipped image meets the goal (the code clips once, after all iterations).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.attacks.fbs import goal_and_labels
from core.attacks.loop import Progress
from core.attacks.result import AttackResult
from core.errors import InputError
from core.models.locks import model_lock
from core.validate import check_choice, check_count, check_images_for, check_number

STEP_RULES = ("line", "open")
GOLDEN = (math.sqrt(5) + 1) / 2


def group_size_for(x: torch.Tensor) -> int:
    """The code's group side: 32 for inputs with a side above 64 pixels, else 4."""
    return 32 if max(x.shape[-2:]) > 64 else 4


def nuclear_group_norm(w: torch.Tensor, size: int) -> torch.Tensor:
    """``sum_g sum_c ||w_{g,c}||_*`` per perturbation (N,) over the whole ``size`` x ``size`` groups."""
    blocks = w.unfold(2, size, size).unfold(3, size, size)
    return torch.linalg.svdvals(blocks).flatten(1).sum(1)


def lmo(grad: torch.Tensor, eps: float, size: int) -> torch.Tensor:
    """``argmax_{||s||_{G,*} <= eps} <grad, s>``: ``eps u_1 v_1^T`` on the group and channel of largest top
    singular value, zero elsewhere (N, C, H, W)."""
    n, c, h, w = grad.shape
    blocks = grad.unfold(2, size, size).unfold(3, size, size)  # (n, c, H/s, W/s, s, s)
    u, sv, vh = torch.linalg.svd(blocks)
    top = sv[..., 0].flatten(1).argmax(1)  # (n,)
    rank1 = (u[..., :, 0:1] * vh[..., 0:1, :]).flatten(1, 3)  # (n, c*H/s*W/s, s, s)
    picked = rank1[torch.arange(n, device=grad.device), top]  # (n, s, s)
    gh, gw = h // size, w // size
    ch, rest = top // (gh * gw), top % (gh * gw)
    row, col = rest // gw, rest % gw
    out = torch.zeros_like(grad)
    ii = (row[:, None] * size + torch.arange(size, device=grad.device))[:, :, None]
    jj = (col[:, None] * size + torch.arange(size, device=grad.device))[:, None, :]
    out[torch.arange(n, device=grad.device)[:, None, None], ch[:, None, None], ii, jj] = eps * picked
    return out


def _loss(model, x_adv, labels, targeted):
    ce = F.cross_entropy(model(x_adv), labels, reduction="none")
    return -ce if targeted else ce


@torch.no_grad()
def line_search(model, x0, w, s, labels, targeted, sections: int = 25) -> torch.Tensor:
    """Golden-section search of ``gamma`` in [0, 1] maximising the loss at ``x + w + gamma (s - w)`` (n, 1, 1, 1)."""
    a = torch.zeros(len(x0), 1, 1, 1, device=x0.device, dtype=x0.dtype)
    b = torch.ones_like(a)
    d = s - w
    for _ in range(sections):
        c1, c2 = b - (b - a) / GOLDEN, a + (b - a) / GOLDEN
        left = _loss(model, x0 + w + c1 * d, labels, targeted) > _loss(model, x0 + w + c2 * d, labels, targeted)
        left = left.view(-1, 1, 1, 1)
        b, a = torch.where(left, c2, b), torch.where(left, a, c1)
    return (a + b) / 2


def fwnucl(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, target: torch.Tensor | None = None,
           eps: float = 2.5, size: int | None = None, steps: int = 200, step_rule: str = "line",
           progress: Progress | None = None) -> AttackResult:
    """FWnucl on a batch ``x`` (N, C, H, W) in [0, 1] with labels ``y`` (or a ``target`` per image); see the
    module docstring."""
    check_images_for(model, x)
    eps = check_number("eps", eps, "positive and finite", lambda v: 0 < v < math.inf)
    size = check_count("The group size", group_size_for(x) if size is None else size, 1)
    if size > min(x.shape[-2:]):
        raise InputError(f"The group size {size} exceeds the image ({x.shape[-2]} x {x.shape[-1]}).")
    steps = check_count("The number of iterations", steps, 1)
    check_choice("step rule", step_rule, STEP_RULES)
    x0 = x.detach()
    n = x0.shape[0]
    targeted = target is not None
    with model_lock(model):
        goal, labels = goal_and_labels(model, x0, y, target)
        rows = torch.arange(n, device=x0.device)
        w = torch.zeros_like(x0)
        x_adv, success = x0.clone(), torch.zeros(n, dtype=torch.bool, device=x0.device)
        used = torch.zeros(n, dtype=torch.long, device=x0.device)
        for t in range(steps + 1):
            cur = (x0[rows] + w).clamp(0, 1)
            z = (x0[rows] + w).detach().requires_grad_()
            logits = model(z)
            loss = F.cross_entropy(logits, labels[rows], reduction="sum")
            (grad,) = torch.autograd.grad(-loss if targeted else loss, z)
            with torch.no_grad():
                ok = goal(rows, model(cur)) if not bool(((x0[rows] + w) == cur).all()) else goal(rows, logits)
            x_adv[rows[ok]], success[rows[ok]] = cur[ok], True
            rows, w, grad = rows[~ok], w[~ok], grad[~ok]
            if t == steps or rows.numel() == 0:
                break
            with torch.no_grad():
                s = lmo(grad, eps, size)
                gamma = line_search(model, x0[rows], w, s, labels[rows], targeted) if step_rule == "line" \
                    else 2 / (t + 2)
                w = (1 - gamma) * w + gamma * s
                used[rows] += 1
            if progress is not None:
                progress((t + 1) / steps, f"FWnucl step {t + 1} of {steps}, {rows.numel()} image(s) left")
        x_adv[rows] = (x0[rows] + w).clamp(0, 1)
    params = {"eps": eps, "size": size, "steps": steps, "step_rule": step_rule, "targeted": targeted}
    return AttackResult("FWnucl", x_adv, x_adv - x0, success, used, params)
