"""eXIAA's grid against a naive loop over it: ``python -m bench exiaa``.

The work: the eXIAA attack and its Gaussian baseline at every (alpha, top-k) of the paper's grid (5 x 10) on
``--batch`` MNIST test digits (default 4), mnist_cnn, saliency, a pool of the first 500 training digits; and
the figures of every corrupted image (explanation change %, SSIM, confidence change).

Explanation calls: batches of at most ``BATCH_SIZE`` (4) images through the explainer.

- Ours (``core.studies.exiaa``): the pool predicted once for all images, each image and its attack image
  explained once, the corrupted images of every grid point explained in batches (``image_grid``).
- The naive loop (the first comparison): at every grid point of every image, the attack as a user would call it
  (``core.attacks.exiaa.exiaa``: the pool predicted, the attack image explained), the baseline, then the
  original and the two corrupted images explained to measure them.
- The naive loop with the pool predicted once (the second comparison): only the explanations are asked anew
  at every point, so the time ratio isolates what reusing explanations saves.

Both see the model only through the same counted ``predict`` and ``explain``; the figures must agree (to
1e-6 relative) so that both did the same work. Reported: the time ratio (ours / naive) and, in the notes,
the explanation calls and explained images of each, and their ratios (target: >= 5x fewer explanation
calls, i.e. a calls ratio naive / ours >= 5).
"""
from __future__ import annotations

import numpy as np
import torch

from bench.timing import Comparison, compare
from core.attacks.exiaa import Candidates, Counted, Selection, exiaa, gaussian_injection, select
from core.data import load_digit, load_digits
from core.models import load
from core.studies import exiaa as study

MODEL, METHOD, POOL_SIZE = "mnist_cnn", "saliency", 500
CALLS_TARGET = 5.0  # naive explanation calls / ours, at least


def _setup(n: int, device):
    loaded = load(MODEL, device=device)
    digits = load_digits(n)
    x = torch.cat([d.tensor for d in digits]).to(loaded.device)
    pool = torch.cat([load_digit(i, "train").tensor for i in range(POOL_SIZE)]).to(loaded.device)
    return loaded.model, x, [d.digest for d in digits], pool


def counted(model, config: study.StudyConfig, counters: dict):
    """``black_box``'s ``predict`` and ``explain``, each batch of at most ``BATCH_SIZE`` images it passes to the
    model counted as one call (``counters``: the two ``Counted``)."""
    def chunked(fn: Counted):
        def call(x, *target):
            size = study.BATCH_SIZE
            parts = zip(x.split(size), *(t.split(size) for t in target))
            return torch.cat([fn(*part) for part in parts])
        return call

    functions = study.black_box(model, METHOD, config.method_params(METHOD))
    counters.update(predict=Counted(functions[0]), explain=Counted(functions[1]))
    return chunked(counters["predict"]), chunked(counters["explain"])


def ours(model, x, digests, pool, config: study.StudyConfig, counters: dict) -> dict[str, np.ndarray]:
    """The study's way: pool and images predicted once, then ``image_grid`` per image."""
    predict, explain = counted(model, config, counters)
    candidates = Candidates.of(pool, predict)
    p = predict(x)
    chosen = select(p, candidates, config.attack_images)
    out = []
    for i in range(x.shape[0]):
        mine = Selection(*(t[i: i + 1] for t in (chosen.y_star, chosen.y_r, chosen.indices, chosen.in_class)))
        out.append(study.image_grid(x[i: i + 1], digests[i], p[i: i + 1], mine,
                                    candidates.images(mine.indices[0].tolist()), predict, explain, config))
    return {k: np.concatenate([o[k] for o in out]) for k in out[0]}


def naive(model, x, digests, pool, config: study.StudyConfig, counters: dict,
          shared_pool: bool = False) -> dict[str, np.ndarray]:
    """A loop over the grid: at each point the attack from scratch (with ``shared_pool``, the pool's
    probabilities asked once for all points), the baseline, and the measurements."""
    predict, explain = counted(model, config, counters)
    known = Candidates.of(pool, predict) if shared_pool else None
    shape = (x.shape[0], len(config.alphas), len(config.top_ks))  # as image_grid's, one attack image
    figures: dict[str, np.ndarray] = {}
    for i in range(x.shape[0]):
        xi = x[i: i + 1]
        for a, alpha in enumerate(config.alphas):
            for t, top_k in enumerate(config.top_ks):
                attack = exiaa(xi, predict, explain, known or Candidates.of(pool, predict), alpha=alpha, top_k=top_k)
                labels = attack.result.labels
                seeds = [study.image_seed(config.seed, digests[i], 0)]
                x_tilde = gaussian_injection(xi, labels["entries"][:, None], [alpha], seeds, config.noise_mean,
                                             config.noise_std)[0][:, 0, 0]
                both = torch.cat([attack.result.x_adv, x_tilde])
                p_x, p_both = predict(xi), predict(both)
                z = explain(xi, labels["y_star"])
                values = study.grid_figures(xi, p_x, int(labels["y_star"][0]), z, both, p_both,
                                            explain(both, p_both.argmax(1)))
                for name, v in values.items():
                    for j, who in enumerate(study.WHO):
                        figures.setdefault(f"{who}_{name}", np.zeros(shape))[i, a, t] = float(v[j])
    return figures


def counts(run, *args) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """One run of ``run`` with its calls and inputs of ``predict`` and ``explain``."""
    counters: dict = {}
    figures = run(*args, counters)
    return figures, {f"{f}_{what}": getattr(counters[f], what) for f in ("predict", "explain")
                     for what in ("calls", "inputs")}


def run(n: int, repeats: int, warmup: int, device=None, config: study.StudyConfig | None = None) -> list[Comparison]:
    config = config or study.StudyConfig(methods=(METHOD,))
    model, x, digests, pool = _setup(n, device)
    args = (model, x, digests, pool, config)
    mine, ours_counts = counts(ours, *args)
    theirs, naive_counts = counts(naive, *args)
    gap = max(float(np.max(np.abs(mine[k] - theirs[k]) / np.maximum(np.abs(theirs[k]), 1e-12))) for k in theirs)
    if gap > 1e-6:
        raise AssertionError(f"the grid and the naive loop disagree (largest relative difference {gap:.2e})")
    calls = naive_counts["explain_calls"] / ours_counts["explain_calls"]
    images = naive_counts["explain_inputs"] / ours_counts["explain_inputs"]
    notes = {"ours": ours_counts, "naive": naive_counts, "explain_calls_naive_over_ours": calls,
             "explained_images_naive_over_ours": images, "calls_target": CALLS_TARGET,
             "calls_passed": calls >= CALLS_TARGET, "largest_relative_difference": gap,
             "summary": f"explanation calls {naive_counts['explain_calls']} naive vs {ours_counts['explain_calls']} "
                        f"ours ({calls:.1f}x fewer, target >= {CALLS_TARGET:g}x); explained images "
                        f"{naive_counts['explain_inputs']} vs {ours_counts['explain_inputs']} ({images:.1f}x); "
                        f"pool images predicted {naive_counts['predict_inputs']} vs {ours_counts['predict_inputs']} "
                        f"(predict inputs in all); figures equal to {gap:.1e}"}
    name = f"eXIAA grid {len(config.alphas)}x{len(config.top_ks)} on {n} digits, {METHOD}"
    _, shared_counts = counts(lambda *a: naive(*a, shared_pool=True), *args)
    shared = {"naive_pool_once": shared_counts, "summary": "the naive loop with the pool predicted once: explained "
              f"images {shared_counts['explain_inputs']} vs {ours_counts['explain_inputs']} ours"}
    return [compare(lambda: ours(*args, {}), lambda: naive(*args, {}), repeats, warmup, name=name, notes=notes),
            compare(lambda: ours(*args, {}), lambda: naive(*args, {}, shared_pool=True), repeats, warmup,
                    name=f"{name}; naive with the pool predicted once", notes=shared)]


def from_args(args) -> tuple[dict, list[Comparison], str]:
    """``python -m bench exiaa``: --batch digits (default 4); the peer is the naive loop over the grid."""
    n = args.batch or 4
    config = {"model": MODEL, "method": METHOD, "digits": n, "pool": f"first {POOL_SIZE} MNIST training digits",
              "alphas": list(study.ALPHAS), "top_ks": list(study.TOP_KS), "batch_size": study.BATCH_SIZE}
    return config, run(n, args.repeats, args.warmup, args.device), "naive loop"
