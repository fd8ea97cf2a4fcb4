"""eXIAA, the black-box one-step attack on explanations (seed 002: Pesce, Wei and Mengaldo, "eXIAA:
eXplainable Injections for Adversarial Attack"), in its three phases, and its Gaussian-noise baseline.

The attack sees the classifier only through two functions, ``predict(x) -> probabilities`` (N, K) and
``explain(x, target) -> maps`` (N, C, H, W): no model, no parameters, no gradients. The pool of candidate
attack images comes as ``Candidates``: their probabilities (P, K) and a way to fetch images by position.

1. Attack image selection (Sec. 3.1): ``y* = argmax_j f_j(x)``, the running-up class
   ``y_r = argmax_{j != y*} f_j(x)``, and the attack image ``x_bar = argmax_{x' in X_{y_r}} f_{y_r}(x')``,
   ``X_{y_r}`` the pool images predicted as ``y_r``. The paper attacks each image with the top three of
   them, separately; here the top ``n`` (default 1). Where the pool holds fewer than ``n`` images predicted
   as ``y_r``, the rest are the pool images with the highest ``f_{y_r}``, and ``in_class`` says so.
2. Feature extraction (Sec. 3.2): ``z_bar = E(x_bar; y_r)`` by the method that explains ``x``, and ``I_k``
   its top entries over (C, H, W) among the positive ones. top-k is a fraction of the positive entries
   (Sec. 4): ``m = ceil(k * #{z_bar > 0})`` entries, at least one (``entries``); ties go to the lower flat
   index (a stable sort). A map without positive entries is refused.
3. Feature injection (Sec. 3.3, eq. 5): ``x_hat = clip((1 - alpha) x + alpha x_bar)`` on ``I_k``, ``x``
   elsewhere, clipped to [0, 1] (``inject``).

Baseline (Sec. 4, "adding Gaussian noise to the original image"; the paper gives no more): eq. 5 at the same
alpha on the same number ``m`` of entries, chosen uniformly at random, with ``x_bar`` replaced by Gaussian
noise ``N(mean, std^2)`` (defaults 0.5 and 0.25, about the pixel statistics of photos), both seeded per
attacked image (``gaussian_injection``).

A grid of alphas and top-ks is one batched computation (``inject_grid``): the masks of all top-ks come from
one ranking of ``z_bar``'s entries, and the attack image, its explanation and the pool's probabilities are
fetched once, whatever the grid.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from core.attacks.goals import Targeted, runner_up
from core.attacks.result import AttackResult
from core.errors import InputError
from core.validate import check_count, check_images, check_number

Predict = Callable[[torch.Tensor], torch.Tensor]  # x (N, C, H, W) in [0, 1] -> probabilities (N, K)
Explain = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # x, target (N,) -> maps (N, C, H, W)
NOISE_MEAN, NOISE_STD = 0.5, 0.25
TOLERANCE = 1e-9  # k * P within this of a whole number counts as it: 0.3 * 10 entries are 3, not 4


def check_alpha(alpha: object) -> float:
    """The blending weight alpha of eq. 5, in (0, 1]."""
    return check_number("alpha (the weight of the injected image, eq. 5)", alpha, "in (0, 1]",
                        lambda a: 0 < a <= 1)


def check_top_k(top_k: object) -> float:
    """top-k, the fraction of the attack image's positive attribution entries injected, in (0, 1]."""
    return check_number("top-k (the fraction of positive attribution entries injected)", top_k, "in (0, 1]",
                        lambda k: 0 < k <= 1)


class Counted:
    """A black-box function (``predict`` or ``explain``) that counts its calls and the inputs it was asked about."""

    def __init__(self, fn: Callable[..., torch.Tensor]):
        self.fn, self.calls, self.inputs = fn, 0, 0

    def __call__(self, x: torch.Tensor, *args) -> torch.Tensor:
        self.calls += 1
        self.inputs += x.shape[0]
        return self.fn(x, *args)


@dataclass(frozen=True)
class Candidates:
    """The pool as the attack sees it: each image's probabilities (P, K) and its images by position
    (``images(indices) -> (n, C, H, W)``); ``queried``: the pool images passed to ``predict`` to get them
    (0 where they were known, e.g. read from the cache)."""

    probabilities: torch.Tensor
    images: Callable[[Sequence[int]], torch.Tensor]
    queried: int = 0

    @classmethod
    def of(cls, pool: torch.Tensor, predict: Predict, batch_size: int = 64) -> Candidates:
        """The pool ``pool`` (P, C, H, W), its probabilities asked of ``predict`` in chunks of ``batch_size``."""
        check_images(pool)
        probabilities = torch.cat([predict(chunk) for chunk in pool.split(batch_size)])
        return cls(probabilities, lambda indices: pool[list(indices)], pool.shape[0])


@dataclass(frozen=True)
class Selection:
    """Phase one for each attacked image: ``y_star`` and ``y_r`` (N,), the chosen pool images ``indices``
    (N, n), best first, and whether each is predicted as ``y_r`` (``in_class``; False: the pool had too few)."""

    y_star: torch.Tensor
    y_r: torch.Tensor
    indices: torch.Tensor
    in_class: torch.Tensor


def running_up(probabilities: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``y* = argmax_j f_j(x)`` and the running-up class ``y_r = argmax_{j != y*} f_j(x)`` (Sec. 3.1), (N,) each."""
    y_star = probabilities.argmax(1)
    return y_star, runner_up(probabilities, y_star)


def select(probabilities: torch.Tensor, candidates: Candidates, n: int = 1, *, classes: torch.Tensor | None = None,
           exclude: torch.Tensor | None = None) -> Selection:
    """Phase one (Sec. 3.1): for each image with probabilities (N, K), the ``n`` pool images with the highest
    ``f_{y_r}`` among those predicted as ``y_r``, then (where too few are) among the rest. ``classes`` (N,)
    replaces ``y_r`` by other classes to attack with (Figure 5); ``exclude`` (N, P) True leaves a pool image
    out for that image (the image itself, where it is in the pool)."""
    check_count("The number of attack images", n, 1)
    pool = candidates.probabilities
    if pool.dim() != 2 or pool.shape[0] == 0:
        raise InputError("The pool holds no images: give at least one candidate attack image.")
    if pool.shape[1] != probabilities.shape[1]:
        raise InputError(f"The pool's probabilities are over {pool.shape[1]} classes, the model's over "
                         f"{probabilities.shape[1]}: predict the pool with the same model.")
    available = pool.shape[0] - (0 if exclude is None else int(exclude.sum(1).max()))
    if available < n:
        raise InputError(f"The pool holds {available} usable image(s); {n} attack images were asked for.")
    y_star, y_r = running_up(probabilities)
    wanted = y_r if classes is None else classes.to(y_r.device)
    p = pool.to(probabilities.device)[:, wanted].T  # (N, P): f_{wanted}(x') of every pool image
    in_class = pool.to(probabilities.device).argmax(1)[None, :] == wanted[:, None]
    score = torch.where(in_class, p + 2, p)  # the class's own images first, each group by probability
    if exclude is not None:
        score = score.masked_fill(exclude.to(score.device), -math.inf)
    indices = score.sort(dim=1, descending=True, stable=True).indices[:, :n]
    return Selection(y_star, wanted, indices, in_class.gather(1, indices))


def ranking(z_bar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Phase two's order (Sec. 3.2): each map's flat entries (N, C*H*W) from the largest down (ties: lower
    index first), and how many are positive (N,). A map with no positive entry is refused."""
    flat = z_bar.flatten(1)
    positives = (flat > 0).sum(1)
    if bool((positives == 0).any()):
        rows = (positives == 0).nonzero().flatten().tolist()
        raise InputError(f"The attack image's explanation has no positive entries (attack(s) {rows}): there is "
                         "nothing to inject. Choose another attack image or method.")
    return flat.sort(dim=1, descending=True, stable=True).indices, positives


def entries(positives: torch.Tensor, top_k: float) -> torch.Tensor:
    """``m = ceil(k * P)`` entries of a map with ``P`` positive ones (at least 1), (N,) long."""
    k = check_top_k(top_k)
    return torch.ceil(positives.double() * k - TOLERANCE).clamp(min=1).long()


def masks(order: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """``I_k`` as masks (N, T, D): for each row of ``order`` (N, D) and each of its counts (N, T), the first
    ``counts`` entries of the order."""
    places = torch.arange(order.shape[1], device=order.device).expand_as(order)
    rank = torch.empty_like(order).scatter_(1, order, places)  # each entry's place in the order
    return rank[:, None, :] < counts[:, :, None]


def inject_grid(x: torch.Tensor, source: torch.Tensor, order: torch.Tensor, counts: torch.Tensor,
                alphas: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 5 on a grid: for each image ``x`` (N, C, H, W), its ``source`` (the attack image, or noise), its
    entry ``order`` (N, D) and entry counts (N, T), ``x_hat = clip((1 - alpha) x + alpha source)`` on the first
    ``counts`` entries of the order and ``x`` elsewhere, for each alpha. Returns x_hat (N, A, T, C, H, W) and
    the masks (N, T, C, H, W)."""
    alphas = [check_alpha(a) for a in alphas]
    n, shape = x.shape[0], x.shape[1:]
    keep = torch.tensor([1 - a for a in alphas], dtype=x.dtype, device=x.device)[:, None]  # as eq. 5 writes it
    give = torch.tensor(alphas, dtype=x.dtype, device=x.device)[:, None]
    blended = (x.flatten(1)[:, None] * keep + source.flatten(1)[:, None] * give).clamp(0, 1)  # (N, A, D)
    mask = masks(order, counts)  # (N, T, D)
    x_hat = torch.where(mask[:, None], blended[:, :, None], x.flatten(1)[:, None, None])
    return x_hat.reshape(n, len(alphas), counts.shape[1], *shape), mask.reshape(n, counts.shape[1], *shape)


def noise(x: torch.Tensor, seeds: Sequence[int], mean: float = NOISE_MEAN,
          std: float = NOISE_STD) -> tuple[torch.Tensor, torch.Tensor]:
    """The baseline's randomness for each image of ``x`` (N, C, H, W), from its own seed: a uniformly random
    order of its entries (N, D) and Gaussian noise ``N(mean, std^2)`` shaped like it. Drawn on the CPU, so a
    seed gives the same draw on every device."""
    check_number("The noise's standard deviation", std, "positive and finite", lambda s: 0 < s < math.inf)
    check_number("The noise's mean", mean, "finite", math.isfinite)
    if len(seeds) != x.shape[0]:
        raise InputError(f"Give one seed per image: {x.shape[0]} images, {len(seeds)} seeds.")
    orders, noises = [], []
    for seed in seeds:
        g = torch.Generator().manual_seed(int(seed))
        orders.append(torch.randperm(x[0].numel(), generator=g))
        noises.append(torch.randn(x.shape[1:], generator=g) * std + mean)
    return torch.stack(orders).to(x.device), torch.stack(noises).to(x)


def gaussian_injection(x: torch.Tensor, counts: torch.Tensor, alphas: Sequence[float], seeds: Sequence[int],
                       mean: float = NOISE_MEAN, std: float = NOISE_STD) -> tuple[torch.Tensor, torch.Tensor]:
    """The baseline on a grid: eq. 5 with Gaussian noise for ``x_bar`` on ``counts`` (N, T) random entries of
    each image (``noise``), for each alpha; returns (x_tilde (N, A, T, C, H, W), masks (N, T, C, H, W))."""
    order, source = noise(x, seeds, mean, std)
    return inject_grid(x, source, order, counts, alphas)


@dataclass(frozen=True)
class Injection:
    """One eXIAA attack on a batch: the corrupted images and what made them. ``result`` is the shared
    ``AttackResult`` (x_adv = x_hat; success: the prediction stayed y*; labels ``y_star``, ``y_r``,
    ``after``, ``attack_index`` (the pool position of x_bar), ``in_class``, ``entries`` (m)); ``attack_images``
    the x_bar (N, C, H, W), ``attack_maps`` their explanations for y_r, ``mask`` I_k (N, C, H, W); the
    queries it asked: images passed to ``predict`` (the image and x_hat), to ``explain`` (x_bar) and, for
    the pool's probabilities, ``pool``."""

    result: AttackResult
    attack_images: torch.Tensor
    attack_maps: torch.Tensor
    mask: torch.Tensor
    predict_queries: int
    explain_queries: int
    pool_queries: int


def exiaa(x: torch.Tensor, predict: Predict, explain: Explain, candidates: Candidates, *, alpha: float,
          top_k: float, exclude: torch.Tensor | None = None) -> Injection:
    """The eXIAA attack (Sec. 3, phases one to three) on the images ``x`` (N, C, H, W) in [0, 1] with one
    alpha and one top-k, through ``predict`` and ``explain`` alone (``exclude``: see ``select``)."""
    check_images(x)
    a, k = check_alpha(alpha), check_top_k(top_k)
    predict, explain = Counted(predict), Counted(explain)
    probabilities = predict(x)
    chosen = select(probabilities, candidates, 1, exclude=exclude)
    x_bar = candidates.images(chosen.indices[:, 0].tolist()).to(x)
    if x_bar.shape[1:] != x.shape[1:]:
        raise InputError(f"The pool's images are {tuple(x_bar.shape[1:])}, the attacked ones {tuple(x.shape[1:])} "
                         "(C, H, W): load the pool for the model's input.")
    z_bar = explain(x_bar, chosen.y_r)
    order, positives = ranking(z_bar)
    counts = entries(positives, k)
    x_hat, mask = inject_grid(x, x_bar, order, counts[:, None], [a])
    x_hat, mask = x_hat[:, 0, 0], mask[:, 0]
    judged = predict(x_hat)
    after = judged.argmax(1)
    success = Targeted(chosen.y_star)(torch.arange(x.shape[0], device=x.device), judged)  # the prediction stayed y*
    labels = {"y_star": chosen.y_star, "y_r": chosen.y_r, "after": after, "attack_index": chosen.indices[:, 0],
              "in_class": chosen.in_class[:, 0], "entries": counts}
    result = AttackResult("eXIAA", x_hat, x_hat - x, success, torch.ones_like(after), {"alpha": a, "top_k": k},
                          labels)
    return Injection(result, x_bar, z_bar, mask, predict.inputs, explain.inputs, candidates.queried)
