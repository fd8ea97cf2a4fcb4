"""The eXIAA study (seed 002): the attack and its Gaussian baseline over a grid of alpha x top-k, for each
explanation method, with the paper's figures (explanation change %, SSIM, confidence change, Figures 2-4)
and its Table 1 layout beside the paper's own numbers (Tables 1, B.1-B.3); and Figure 5, the running-up
class against every other class as the attack image's class.

For each image the study predicts once, picks the attack images once (from the pool's probabilities,
computed once per pool and model and cached, ``pool_pass``), and for each method explains the image and
its attack images once: whatever the grid, only the corrupted images' explanations depend on alpha and
top-k, and those are asked in batches (``image_grid``). Each (image, method) result is cached under
everything it depends on and timed (``core.timings``), so a rerun or a larger set of images recomputes only
what is new. An image in its own pool (the ImageNet sample attacked with itself as the pool) is left out
of its candidates. Explanations of corrupted images are of their own predicted class (eq. 2:
``E(x_hat; f(x_hat))``); the attack images' of the running-up class (``core.attacks.exiaa``).
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from core import timings
from core.attacks.exiaa import (
    NOISE_MEAN,
    NOISE_STD,
    Candidates,
    Explain,
    Predict,
    Selection,
    check_alpha,
    check_top_k,
    entries,
    gaussian_injection,
    inject_grid,
    ranking,
    select,
)
from core.cache import ResultCache, cache_key
from core.data.pools import Pool
from core.errors import InputError
from core.explain import relevance
from core.explain.gradients import MAX_IG_STEPS
from core.metrics.manipulation import class_changed, confidence_change_pct, explanation_change_pct, ssim
from core.models.locks import model_lock
from core.studies import exiaa_paper
from core.studies import table as tables
from core.studies.runner import Chunk, run_chunks, sub_progress
from core.studies.settings import setting
from core.studies.table import PaperTable, Row
from core.validate import check_choice, check_count, check_images, check_number
from core.wording import counted

METHODS = ("saliency", "integrated_gradients", "deeplift_shap")
ALPHAS = (0.03, 0.06, 0.09, 0.12, 0.15)
TOP_KS = exiaa_paper.TOP_KS
WHO = ("ours", "baseline")
FIGURES = ("change_pct", "ssim", "confidence_pct", "class_changed")
BATCH_SIZE = 4  # images per predict or explain call (exiaa-eval's --batch-size); on a CPU small batches run fastest
POOL_BATCH = 32  # pool images per predict call
DEFAULT_DIGITS = 20
RUNNING_UP = 1  # the attack class's rank after the prediction: the paper's running-up class
PAPER_SOURCE = "The eXIAA paper (ImageNet, 500 classes, 3 attack images per image)"


@dataclass(frozen=True)
class StudyConfig:
    """Everything that decides the study's numbers (and keys its cache entries); each setting's help is the
    line ``exiaa-eval --help`` shows for it."""

    methods: tuple[str, ...] = setting(METHODS, "explanation methods (captum), a table each", choices=METHODS)
    alphas: tuple[float, ...] = setting(ALPHAS, "blending weights alpha of eq. 5, each in (0, 1]", flag="--alpha")
    top_ks: tuple[float, ...] = setting(TOP_KS, "fractions of the attack image's positive attribution entries "
                                        "injected, each in (0, 1]", flag="--top-k")
    attack_images: int = setting(1, "attack images per image: the pool's top n of the running-up class, each "
                                 "attacked on its own (the paper: 3)")
    ig_steps: int = setting(50, "integration steps of integrated gradients (captum's default)")
    noise_mean: float = setting(NOISE_MEAN, "mean of the baseline's Gaussian noise (pixels in [0, 1])")
    noise_std: float = setting(NOISE_STD, "standard deviation of the baseline's Gaussian noise")
    seed: int = setting(1, "seed of the baseline's entries and noise (each image draws from it and its content)")

    def __post_init__(self):
        if not self.methods:
            raise InputError(f"Give at least one method: {', '.join(METHODS)}.")
        for method in self.methods:
            check_choice("method", method, METHODS)
        for name, values, check in (("alpha", self.alphas, check_alpha), ("top-k", self.top_ks, check_top_k)):
            if not values:
                raise InputError(f"Give at least one {name}.")
            for value in values:
                check(value)
        check_count("The number of attack images", self.attack_images, 1)
        check_count("The integration steps", self.ig_steps, 1)
        if self.ig_steps > MAX_IG_STEPS:
            raise InputError(f"Integrated gradients takes 1 to {MAX_IG_STEPS} steps, got {self.ig_steps}.")
        check_number("The noise's mean", self.noise_mean, "finite", np.isfinite)
        check_number("The noise's standard deviation", self.noise_std, "positive and finite",
                     lambda s: 0 < s < np.inf)
        check_count("The seed", self.seed, 0)
        for name in ("methods", "alphas", "top_ks"):
            values = getattr(self, name)
            kept = tuple(dict.fromkeys(values)) if name == "methods" else tuple(sorted(set(map(float, values))))
            object.__setattr__(self, name, kept)

    def method_params(self, method: str, batch_size: int = BATCH_SIZE) -> dict[str, Any]:
        """The explainer's parameters: core's defaults, but integrated gradients with ``ig_steps`` steps taken
        ``batch_size`` path points at a time (memory stays that of one batch)."""
        if method == "integrated_gradients":
            return {"n_steps": self.ig_steps, "internal_batch_size": batch_size}
        return {}


def black_box(model: nn.Module, method: str, params: dict[str, Any],
              batch_size: int = BATCH_SIZE) -> tuple[Predict, Explain]:
    """The two functions the attack may use, made from ``model``: ``predict(x)``, its softmax probabilities,
    and ``explain(x, target)``, ``relevance`` by ``method``; each in chunks of ``batch_size``, detached."""
    def predict(x: torch.Tensor) -> torch.Tensor:
        with model_lock(model), torch.no_grad():
            return torch.cat([model(chunk).softmax(1) for chunk in x.split(batch_size)])

    def explain(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.cat([relevance(model, chunk, t, method, **params)
                          for chunk, t in zip(x.split(batch_size), target.split(batch_size))])

    return predict, explain


@dataclass(frozen=True)
class PoolPass:
    """A pool's probabilities under a model (P, K; NaN rows for images that could not be read), each image's
    pixel digest (None where unreadable), why images were left out, and whether it came from the cache."""

    pool: Pool
    probabilities: torch.Tensor
    digests: tuple[str | None, ...]
    skipped: tuple[str, ...]
    from_cache: bool

    def candidates(self, device: torch.device | str) -> Candidates:
        """The pool as the attack sees it (``queried``: the images predicted for it, 0 from the cache)."""
        return Candidates(self.probabilities.to(device),
                          lambda indices: torch.cat([self.pool.load(i).tensor for i in indices]),
                          0 if self.from_cache else len(self.pool))

    def exclude(self, digests: Sequence[str]) -> torch.Tensor:
        """(N, P) True where a pool image is the attacked image itself or could not be read."""
        unreadable = [d is None for d in self.digests]
        return torch.tensor([[u or d == own for d, u in zip(self.digests, unreadable)] for own in digests])


def pool_pass(predict: Predict, pool: Pool, shape: Sequence[int], *, model_id: str | None = None,
              cache: ResultCache | None = None, batch_size: int = POOL_BATCH, progress=None) -> PoolPass:
    """``predict`` over every image of ``pool`` (each must be ``shape``, (C, H, W)), in chunks, read from the
    cache under the pool's content and the model when it was done before. Unreadable files are left out
    and named."""
    def compute():
        probabilities, digests, skipped = [], [], []
        for start in range(0, len(pool), batch_size):
            if progress is not None:
                progress(start / len(pool), f"pool image {start + 1} of {len(pool)}")
            chunk, rows = [], []
            for i in range(start, min(start + batch_size, len(pool))):
                try:
                    image = pool.load(i)
                except InputError as exc:
                    skipped.append(f"{pool.names[i]}: {exc}")
                    digests.append(None)
                    continue
                if tuple(image.tensor.shape[1:]) != tuple(shape):
                    raise InputError(f"The pool image {pool.names[i]} is {_shape(image.tensor.shape[1:])}, the "
                                     f"attacked images {_shape(shape)}: load the pool for the model's input.")
                chunk.append(image.tensor)
                rows.append(i)
                digests.append(image.digest)
            p = predict(torch.cat(chunk)) if chunk else None
            block = torch.full((min(batch_size, len(pool) - start), _classes(p, probabilities)), float("nan"))
            if p is not None:
                block[[r - start for r in rows]] = p.float().cpu()
            probabilities.append(block)
        if all(d is None for d in digests):
            raise InputError(f"No image of the pool ({pool.description}) can be read.")
        return {"probabilities": torch.cat(probabilities).numpy()}, {"digests": digests, "skipped": skipped}

    if cache is None or model_id is None:
        (arrays, meta), hit = compute(), False
    else:
        found, hit = cache.get_or_compute(cache_key(kind="exiaa-pool", model=model_id, pool=pool.content), compute)
        arrays, meta = found.arrays, found.meta
    return PoolPass(pool, torch.from_numpy(np.array(arrays["probabilities"])), tuple(meta["digests"]),
                    tuple(meta["skipped"]), hit)


def _shape(shape: Sequence[int]) -> str:
    return "×".join(str(int(s)) for s in shape)


def _classes(p: torch.Tensor | None, blocks: list[torch.Tensor]) -> int:
    """The number of classes, from this chunk's predictions or an earlier chunk's."""
    if p is not None:
        return p.shape[1]
    return blocks[0].shape[1] if blocks else 0


def ranked_class(probabilities: torch.Tensor, rank: int) -> torch.Tensor:
    """Each image's class whose probability comes ``rank``-th after the predicted one (N,): 1 is the running-up
    class."""
    classes = probabilities.shape[1]
    check_count("The attack class's rank", rank, 1)
    if rank >= classes:
        raise InputError(f"The model has {classes} classes: ranks after the prediction run from 1 to {classes - 1}.")
    return probabilities.sort(dim=1, descending=True, stable=True).indices[:, rank]


def image_seed(seed: int, digest: str, attack: int) -> int:
    """The baseline's seed for one attack of one image: from the study's seed, the image's content and the
    attack image's rank, so that it does not depend on the image's place in a batch."""
    return int(hashlib.sha256(f"{seed}:{digest}:{attack}".encode()).hexdigest()[:15], 16)


@dataclass(frozen=True)
class ImageGrid:
    """One image under one method: its class ``y_star``, the class attacked with ``y_r`` (the running-up class
    unless Figure 5 chose another), the attack images (pool names, whether each is predicted as ``y_r``),
    the injected entries m (n, T) and each figure of ours and of the baseline, ``<who>_<figure>`` (n, A, T);
    the attack's black-box queries (``explain``: the attack images; ``predict``: the image); the seconds it
    took when computed and whether it came from the cache."""

    name: str
    digest: str
    y_star: int
    y_r: int
    attack_names: tuple[str, ...]
    in_class: tuple[bool, ...]
    entries: np.ndarray
    figures: dict[str, np.ndarray]
    seconds: float
    from_cache: bool

    @property
    def queries(self) -> dict[str, int]:
        return {"predict": 1, "explain": len(self.attack_names)}

    def to_dict(self, names: Sequence[str]) -> dict[str, Any]:
        """JSON-safe, with class names from ``names``."""
        return {"image": self.name, "digest": self.digest, "y_star": self.y_star, "y_star_name": names[self.y_star],
                "y_r": self.y_r, "y_r_name": names[self.y_r], "attack_images": list(self.attack_names),
                "attack_images_predicted_as_y_r": list(self.in_class), "entries": self.entries.tolist(),
                "queries": self.queries, "seconds": self.seconds, "from_cache": self.from_cache,
                "figures": {k: v.tolist() for k, v in self.figures.items()}}


def grid_figures(x: torch.Tensor, p_x: torch.Tensor, y_star: int, z: torch.Tensor, corrupted: torch.Tensor,
                 p_hat: torch.Tensor, z_hat: torch.Tensor) -> dict[str, torch.Tensor]:
    """The figures of corrupted images (R, C, H, W) of the image ``x`` (1, C, H, W), whose probabilities are
    ``p_x`` (1, K) and explanation ``z`` (1, C, H, W), from theirs, ``p_hat`` (R, K) and ``z_hat``: each (R,)."""
    y = torch.full((corrupted.shape[0],), y_star, device=corrupted.device)
    return {"change_pct": explanation_change_pct(z.expand_as(z_hat), z_hat).cpu(),
            "ssim": ssim(x.expand_as(corrupted), corrupted),
            "confidence_pct": confidence_change_pct(p_x.expand_as(p_hat), p_hat, y).cpu(),
            "class_changed": class_changed(p_hat, y).double().cpu()}


def image_grid(x: torch.Tensor, digest: str, p_x: torch.Tensor, selection: Selection, x_bar: torch.Tensor,
               predict: Predict, explain: Explain, config: StudyConfig) -> dict[str, np.ndarray]:
    """One image ``x`` (1, C, H, W) over the grid: explain it and its attack images ``x_bar`` (n, C, H, W:
    ``selection``'s, of this image) once, inject every (alpha, top-k) of ``config`` (eq. 5) and the Gaussian
    baseline on as many random entries, then predict and explain the corrupted images in batches. Returns
    ``entries`` (n, T) and ``<who>_<figure>`` (n, A, T)."""
    y_star, y_r = int(selection.y_star[0]), selection.y_r[:1]
    z = explain(x, selection.y_star[:1])
    n = selection.indices.shape[1]
    if x_bar.shape[1:] != x.shape[1:]:
        raise InputError(f"The pool's images are {_shape(x_bar.shape[1:])}, the attacked ones {_shape(x.shape[1:])}: "
                         "load the pool for the model's input.")
    order, positives = ranking(explain(x_bar, y_r.expand(n)))
    counts = torch.stack([entries(positives, k) for k in config.top_ks], 1)  # (n, T)
    xs = x.expand(n, *x.shape[1:])
    seeds = [image_seed(config.seed, digest, j) for j in range(n)]
    corrupted = {"ours": inject_grid(xs, x_bar, order, counts, config.alphas)[0],
                 "baseline": gaussian_injection(xs, counts, config.alphas, seeds, config.noise_mean,
                                                config.noise_std)[0]}
    shape = (n, len(config.alphas), len(config.top_ks))
    both = torch.cat([c.flatten(0, 2) for c in corrupted.values()])
    p_hat = predict(both)
    figures = grid_figures(x, p_x, y_star, z, both, p_hat, explain(both, p_hat.argmax(1)))
    out = {"entries": counts.cpu().numpy()}
    for i, who in enumerate(corrupted):
        part = slice(i * int(np.prod(shape)), (i + 1) * int(np.prod(shape)))
        out |= {f"{who}_{name}": values[part].reshape(shape).numpy() for name, values in figures.items()}
    return out


def grid_chunk(model: nn.Module, x: torch.Tensor, digest: str, p_x: torch.Tensor, selection: Selection,
               x_bar: torch.Tensor, method: str, params: dict[str, Any], config: StudyConfig, batch_size: int, *,
               progress=None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``evaluate``'s work on one image and method (``core.studies.runner.run_chunks``): ``image_grid`` through
    the model's black box."""
    if progress is not None:
        progress(0.0, "explain, inject and explain again")
    predict, explain = black_box(model, method, params, batch_size)
    return image_grid(x, digest, p_x, selection, x_bar, predict, explain, config), {}


def _grid_key(model_id: str, digest: str, pool: str, method: str, params: dict, config: StudyConfig,
              batch_size: int, attack_rank: int) -> str:
    grid = {"alphas": config.alphas, "top_ks": config.top_ks, "attack_images": config.attack_images}
    baseline = {"noise_mean": config.noise_mean, "noise_std": config.noise_std, "seed": config.seed}
    return cache_key(kind="exiaa-grid", model=model_id, image=digest, pool=pool, method=method, params=params,
                     grid=grid, baseline=baseline, batch_size=batch_size, attack_rank=attack_rank)


def _timing_kind(model_id: str, method: str, params: dict, config: StudyConfig) -> str:
    size = len(config.alphas) * len(config.top_ks) * config.attack_images
    return f"exiaa/{method}/{model_id}/grid={size}/{cache_key(params=params)[:16]}"


@dataclass(frozen=True)
class StudyResult:
    """The grid of every method on every image: ``grids[method]`` one ``ImageGrid`` per image (per image and
    attack class in a Figure 5 run), with the pool they drew from and its pass."""

    config: StudyConfig
    image_names: list[str]
    class_names: tuple[str, ...]
    grids: dict[str, list[ImageGrid]]
    pool: str
    pool_queries: int
    skipped: tuple[str, ...] = ()
    batch_size: int = BATCH_SIZE
    attack_rank: int = RUNNING_UP

    def values(self, method: str, who: str, figure: str) -> np.ndarray:
        """Every attack's figure (images x attack images, A, T)."""
        return np.concatenate([g.figures[f"{who}_{figure}"] for g in self.grids[method]])

    def mean(self, method: str, who: str, figure: str) -> np.ndarray:
        """The figure's mean over every attack (A, T): Table 1's cells, Figures 2-4's lines."""
        return self.values(method, who, figure).mean(0)

    def std(self, method: str, who: str, figure: str) -> np.ndarray:
        """Its standard deviation over the attacks (A, T): the bands of Figures 2-4."""
        return self.values(method, who, figure).std(0)

    def table(self, method: str, figure: str = "change_pct") -> tables.Values:
        """Table 1's layout: row (alpha, ours or baseline) -> top-k -> cell; a cell of ``change_pct`` is
        (explanation change %, confidence change), of another figure that figure alone."""
        means = {who: (self.mean(method, who, figure),
                       self.mean(method, who, "confidence_pct") if figure == "change_pct" else None) for who in WHO}
        out: tables.Values = {}
        for i, alpha in enumerate(self.config.alphas):
            for who, (first, second) in means.items():
                out[row_key(alpha, who)] = {column_name(k): float(first[i, j]) if second is None else
                                            (float(first[i, j]), float(second[i, j]))
                                            for j, k in enumerate(self.config.top_ks)}
        return out

    def paper(self, method: str, model: str) -> PaperTable:
        """The paper's table for ``method`` and ``model`` (ResNet-18, ViT-B16) at our grid (None where it has
        no such alpha or top-k)."""
        cells = exiaa_paper.PAPER[(method, model)]
        rows = table_rows(self.config.alphas)
        return PaperTable(f"{PAPER_SOURCE}, {model}", {
            column_name(k): tuple(cells.get(_row_of(r.key), {}).get(k) for r in rows) for k in self.config.top_ks})

    def format(self, markdown: bool = False) -> str:
        """For each method, Table 1's layout (ours above the baseline in each row pair; each cell the explanation
        change % and the confidence change), then the SSIM, then the paper's rows for ResNet-18 and ViT-B16."""
        names = [column_name(k) for k in self.config.top_ks]
        rows, ssim_rows = table_rows(self.config.alphas), table_rows(self.config.alphas, "ssim")
        gap = [""] if markdown else []
        corner = "alpha \\ top-k"
        out = []
        for method in self.grids:
            attacks = self.values(method, "ours", "change_pct").shape[0]
            out += [f"eXIAA with {method} on {counted(len(self.image_names), 'image')} ({counted(attacks, 'attack')}, "
                    f"pool: {self.pool}): explanation change % and confidence change ↓ (points); the baseline "
                    "in each second row", *gap, tables.render(rows, names, self.table(method), markdown, corner),
                    *gap, "SSIM", *gap, tables.render(ssim_rows, names, self.table(method, "ssim"), markdown, corner),
                    *gap, *[f"note: {note}" for note in self.notes(method)], ""]
            for model in exiaa_paper.MODELS:
                paper = self.paper(method, model)
                out += [paper.source, *gap, tables.render(rows, names, paper.values(rows, names), markdown, corner),
                        ""]
        return "\n".join(out).rstrip()

    def notes(self, method: str) -> list[str]:
        """What the table alone does not say: attacks whose attack image was not predicted as y_r, and how
        often the corrupted images changed class."""
        grids = self.grids[method]
        outside = sum(not c for g in grids for c in g.in_class)
        notes = []
        if outside:
            notes.append(f"{outside} of {sum(len(g.in_class) for g in grids)} attack images are not predicted as "
                         "their running-up class (the pool had too few that are): the pool's images with the "
                         "highest probability for it were taken.")
        changed = self.mean(method, "ours", "class_changed")
        notes.append(f"the prediction changed in {100 * changed.min():.1f}-{100 * changed.max():.1f} % of the attacks "
                     "across the grid (ours).")
        return notes

    def to_dict(self) -> dict[str, Any]:
        config = self.config.__dict__
        return {"config": config, "images": self.image_names, "pool": self.pool, "pool_queries": self.pool_queries,
                "pool_skipped": list(self.skipped), "batch_size": self.batch_size,
                "grid": {"alphas": list(self.config.alphas), "top_ks": list(self.config.top_ks)},
                "means": {m: {w: {f: self.mean(m, w, f).tolist() for f in FIGURES} for w in WHO} for m in self.grids},
                "stds": {m: {w: {f: self.std(m, w, f).tolist() for f in FIGURES} for w in WHO} for m in self.grids},
                "per_image": {m: [g.to_dict(self.class_names) for g in grids] for m, grids in self.grids.items()},
                "paper": {f"{m}/{model}": {f"{a:g}/{w}": {f"{k:g}": cell for k, cell in cells.items()}
                                           for (a, w), cells in exiaa_paper.PAPER[(m, model)].items()}
                          for m in self.grids for model in exiaa_paper.MODELS}}


def column_name(top_k: float) -> str:
    return f"{top_k:g}"


def row_key(alpha: float, who: str) -> str:
    return f"{alpha:g}/{who}"


def _row_of(key: str) -> tuple[float, str]:
    alpha, who = key.split("/")
    return float(alpha), who


def table_rows(alphas: Sequence[float], figure: str = "change_pct") -> list[Row]:
    """Table 1's rows: for each alpha, ours then the baseline."""
    pair = figure == "change_pct"
    return [Row(row_key(a, who), f"{a:g}" if who == "ours" else "  baseline", 1 if pair else 3,
                (2, "↓") if pair else None) for a in alphas for who in WHO]


def estimate_seconds(config: StudyConfig, *, model_id: str, image_digests: Sequence[str], pool: Pool,
                     cache: ResultCache, batch_size: int = BATCH_SIZE) -> float | None:
    """How long ``evaluate`` would take here: each (image, method) not in the cache times the median of this
    kind of grid's last runs on this machine (0 where all are cached; None where some never ran here)."""
    total = 0.0
    for method in config.methods:
        params = config.method_params(method, batch_size)
        missing = sum(_grid_key(model_id, d, pool.content, method, params, config, batch_size, 1) not in cache
                      for d in image_digests)
        if missing:
            per_image = timings.seconds_per_input(cache, _timing_kind(model_id, method, params, config))
            if per_image is None:
                return None
            total += missing * per_image
    return total


def evaluate(model: nn.Module, x: torch.Tensor, config: StudyConfig, pool: Pool, *, image_names: Sequence[str],
             image_digests: Sequence[str], class_names: Sequence[str], model_id: str | None = None,
             cache: ResultCache | None = None, batch_size: int = BATCH_SIZE, attack_rank: int = RUNNING_UP,
             progress=None) -> StudyResult:
    """The grid of ``config`` for each method on every image of ``x`` (N, C, H, W), attack images from
    ``pool``: the running-up class's, or with ``attack_rank`` r, the class whose probability comes r-th after
    y*'s (1: the running-up class; Figure 5 compares it with every other)."""
    check_images(x)
    check_count("The batch size", batch_size, 1)
    if len(image_names) != x.shape[0] or len(image_digests) != x.shape[0]:
        raise InputError("Give one name and one digest per image.")
    predict, _ = black_box(model, config.methods[0], {}, batch_size)
    probabilities = predict(x)
    passed = pool_pass(predict, pool, x.shape[1:], model_id=model_id, cache=cache,
                       progress=sub_progress(progress, 0.0, 0.05, "pool: "))
    candidates = passed.candidates(x.device)
    classes = None if attack_rank == RUNNING_UP else ranked_class(probabilities, attack_rank)
    selection = select(probabilities, candidates, config.attack_images, classes=classes,
                       exclude=passed.exclude(image_digests))
    grids: dict[str, list[ImageGrid]] = {}
    cached = cache if model_id is not None else None
    n = x.shape[0]
    for m, method in enumerate(config.methods):
        params = config.method_params(method, batch_size)
        mine = [Selection(*(t[i: i + 1] for t in (selection.y_star, selection.y_r, selection.indices,
                                                   selection.in_class))) for i in range(n)]
        chunks = [Chunk((x[i: i + 1], image_digests[i], probabilities[i: i + 1], mine[i],
                         candidates.images(mine[i].indices[0].tolist()).to(x), method, params, config, batch_size),
                        None if cached is None else _grid_key(model_id, image_digests[i], pool.content, method, params,
                                                              config, batch_size, attack_rank),
                        1, f"{method}, image {i + 1} of {n}: ") for i in range(n)]
        done = run_chunks(grid_chunk, model, chunks, model_id=model_id, cache=cached,
                          timing=None if model_id is None else _timing_kind(model_id, method, params, config),
                          progress=sub_progress(progress, 0.05 + 0.95 * m / len(config.methods),
                                                0.05 + 0.95 * (m + 1) / len(config.methods)))
        grids[method] = [ImageGrid(str(image_names[i]), image_digests[i], int(mine[i].y_star[0]), int(mine[i].y_r[0]),
                                   tuple(pool.names[j] for j in mine[i].indices[0].tolist()),
                                   tuple(bool(c) for c in mine[i].in_class[0].tolist()), np.asarray(arrays["entries"]),
                                   {k: np.asarray(v) for k, v in arrays.items() if k != "entries"},
                                   float(meta["seconds"]), hit)
                         for i, (arrays, meta, hit) in enumerate(done)]
    if progress is not None:
        progress(1.0, "done")
    return StudyResult(config, [str(n) for n in image_names], tuple(class_names), grids, pool.description,
                       candidates.queried, passed.skipped, batch_size, attack_rank)


MAX_RANKED_CLASSES = 20  # Figure 5 attacks with every class but the prediction: the paper ran it on CIFAR-10 only


def evaluate_ranks(model: nn.Module, x: torch.Tensor, config: StudyConfig, pool: Pool, *, class_names: Sequence[str],
                   progress=None, **options) -> dict[int, StudyResult]:
    """Figure 5: ``evaluate`` with the attack image from each class other than y*, by rank (1: the running-up
    class, 2: the next most probable, ...), for a model of at most ``MAX_RANKED_CLASSES`` classes."""
    classes = len(class_names)
    if classes > MAX_RANKED_CLASSES:
        raise InputError(f"Figure 5 attacks with each of the {classes - 1} other classes of every image: for models "
                         f"of at most {MAX_RANKED_CLASSES} classes (MNIST's 10; the paper ran it on CIFAR-10).")
    ranks = range(RUNNING_UP, classes)
    return {r: evaluate(model, x, config, pool, class_names=class_names, attack_rank=r,
                        progress=sub_progress(progress, (r - 1) / len(ranks), r / len(ranks), f"rank {r}: "), **options)
            for r in ranks}


def rank_curves(results: dict[int, StudyResult], method: str, figure: str = "change_pct") -> dict[str, np.ndarray]:
    """Figure 5's lines (A, T) from ``evaluate_ranks``: the running-up class's mean and std over its attacks,
    the other classes' (every attack with another class, pooled), and each rank's mean (R, A, T)."""
    others = np.concatenate([r.values(method, "ours", figure) for rank, r in results.items() if rank != RUNNING_UP])
    mine = results[RUNNING_UP].values(method, "ours", figure)
    return {"running_up": mine.mean(0), "running_up_std": mine.std(0), "others": others.mean(0),
            "others_std": others.std(0), "each": np.stack([r.mean(method, "ours", figure) for r in results.values()])}


CONFIDENCE_LIMIT = 5.0  # points: the paper's "confidence change under 5 %"


def claims(means: dict[str, dict[str, np.ndarray]], top_ks: Sequence[float],
           curves: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """The paper's claims (Sec. 4) checked on a grid's means, ``means[who][figure]`` (A, T) with alphas in
    increasing order, and on Figure 5's ``curves`` (``rank_curves``) where given; each a share of the grid's
    cells or steps where it holds (1: everywhere):

    - ``change_grows_with_alpha`` / ``change_grows_with_top_k``: ours' change % rises from each alpha (top-k)
      to the next;
    - ``diminishing_returns``: per alpha, the change gained per unit of top-k over the upper half of the top-ks
      (middle to last) is below the lower half's (first to middle);
    - ``ours_above_baseline``: ours' change % above the baseline's at the same alpha and top-k;
    - ``ssim_at_smallest_alpha``: the lowest SSIM of ours at the smallest alpha (a value, not a share);
    - ``confidence_under_5``: per alpha, the share of top-ks where ours' confidence change is under 5 points;
    - ``running_up_at_least_others``: Figure 5's running-up class at least the other classes' mean."""
    change, base = (np.asarray(means[w]["change_pct"], dtype=np.float64) for w in WHO)
    k = np.asarray(top_ks, dtype=np.float64)
    mid = len(k) // 2
    out: dict[str, Any] = {
        "change_grows_with_alpha": float(np.mean(np.diff(change, axis=0) > 0)) if change.shape[0] > 1 else None,
        "change_grows_with_top_k": float(np.mean(np.diff(change, axis=1) > 0)) if change.shape[1] > 1 else None,
        "diminishing_returns": None, "ours_above_baseline": float(np.mean(change > base)),
        "ssim_at_smallest_alpha": float(np.min(means["ours"]["ssim"][0])),
        "confidence_under_5": [float(np.mean(np.asarray(row) < CONFIDENCE_LIMIT))
                               for row in means["ours"]["confidence_pct"]]}
    if len(k) > 2:
        lower = (change[:, mid] - change[:, 0]) / (k[mid] - k[0])
        upper = (change[:, -1] - change[:, mid]) / (k[-1] - k[mid])
        out["diminishing_returns"] = float(np.mean(upper < lower))
    if curves is not None:
        out["running_up_at_least_others"] = float(np.mean(np.asarray(curves["running_up"]) >=
                                                          np.asarray(curves["others"])))
    return out


def claims_text(checked: dict[str, Any], alphas: Sequence[float]) -> str:
    """``claims`` as lines of text."""
    def share(value):
        return "-" if value is None else f"{100 * value:.0f} %"

    lines = [f"change % grows with alpha in {share(checked['change_grows_with_alpha'])} of the steps, with top-k in "
             f"{share(checked['change_grows_with_top_k'])}; diminishing returns over top-k at "
             f"{share(checked['diminishing_returns'])} of the alphas",
             f"ours above the baseline in {share(checked['ours_above_baseline'])} of the cells",
             f"lowest SSIM at alpha {alphas[0]:g}: {checked['ssim_at_smallest_alpha']:.3f}",
             "confidence change under 5 points: " + ", ".join(f"alpha {a:g} {share(s)}" for a, s in
                                                              zip(alphas, checked["confidence_under_5"]))]
    if "running_up_at_least_others" in checked:
        lines.append(f"running-up class at least the other classes' mean in "
                     f"{share(checked['running_up_at_least_others'])} of the cells (Figure 5)")
    return "\n".join(lines)
