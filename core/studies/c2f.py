"""Coarse-to-fine attack evaluation: the LRP poster's Tables 1 and 2 (seed 000).

For one level (coarse or fine) the study runs LRPC/LRPF at each epsilon (0-255 scale, converted to
[0, 1] by /255), DeepFool (DFC/DFF) and PGD (PGDC/PGDF) on the same images, and reports per column
``rho_2, rho_1, rho_inf`` (mean ``||eta||_p / ||x||_p``) and the fooling ratio. By default the
perceptibility mean runs over the successful attacks (``over="success"``); the figures keep both
means whichever is chosen (``rho_p_success``, ``rho_p_all``), and the fooling ratio of the
adversarial images once rounded to 8 bits, as a PNG stores them (``fooling_pct_8bit``). LRP attacks
take l2-normalised steps and stop each image at its first success (``core.attacks.lrp_c2f``: of the
optimisers we ran, the one with the poster's perceptibility profile). PGD defaults (our choice, the
poster gives none): budget 10/255, steps of 1/255, 20 steps,
each image stopped at its first success, so its perturbation is what the success needed. Budgets are
taken in ascending order, each once. An all-black image is refused up front: its
rho_p = ||eta||_p / ||x||_p is undefined.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from core.attacks.budget import eps_from_255
from core.attacks.c2f import LEVELS, C2FLabels, check_level, goal_met
from core.attacks.deepfool import CROSSING, check_deepfool_settings, deepfool_c2f
from core.attacks.loop import STEP_RULES
from core.attacks.lrp_c2f import EARLY_STOP, STEP_RULE, check_norm_order, lrp_c2f
from core.attacks.pgd import pgd_c2f
from core.attacks.result import AttackResult
from core.cache import ResultCache
from core.data import as_saved_8bit
from core.errors import InputError
from core.explain import relevance
from core.explain.lrp import COMPOSITES, INITS, LRPRules
from core.explain.rules import SIGNED_INPUTS
from core.metrics import blank_images, fooling_ratio, masked_mean, perceptibility
from core.metrics.intervals import binomial_interval, bootstrap_interval
from core.models.hierarchy import HierarchicalClassifier
from core.models.locks import model_lock
from core.studies import table as tables  # the module; StudyResult.table is a method
from core.studies.runner import estimate_seconds as estimate_run
from core.studies.runner import run_attack, sub_progress
from core.studies.settings import setting
from core.studies.table import Column, PaperTable, Row
from core.validate import check_choice, check_count, check_images, check_number
from core.wording import counted

ATTACKS = ("lrp", "deepfool", "pgd")
NORMS = (("rho_2", 2.0), ("rho_1", 1.0), ("rho_inf", float("inf")))
ROWS = (Row("rho_2", "rho_adv^2", 4), Row("rho_1", "rho_adv^1", 4), Row("rho_inf", "rho_adv^inf", 4),
        Row("fooling_pct", "Fooling(%)", 1))  # the poster's layout
INTERVAL_ROWS = tuple(Row(f"{r.key}_ci", r.label, r.decimals, then=(r.decimals, ""), join="–") for r in ROWS)
OVER = ("success", "all")  # the images a perceptibility mean runs over
DEFAULT_DIGITS = 20  # MNIST test digits a table takes by default (c2f-eval's mnist:N, the page's N)
BATCH_SIZE = 4  # c2f-eval's --batch-size default, which the page's table uses too: the batch size moves figures

# The poster's Table 1 (coarse) and Table 2 (fine), VGG-16 on 393 ImageNet classes, in the order of ROWS.
POSTER_SOURCE = "Poster (VGG-16, ImageNet, 393 classes)"
POSTER = {
    "coarse": PaperTable(POSTER_SOURCE, {
        "LRPC eps=10": (0.0294, 0.0216, 0.0399, 87.1), "LRPC eps=20": (0.0323, 0.0174, 0.0778, 92.5),
        "LRPC eps=40": (0.0405, 0.0195, 0.1557, 99.3), "DFC": (0.0045, 0.0031, 0.0408, 100.0),
        "PGDC": (0.0262, 0.0224, 0.0101, 100.0),
    }),
    "fine": PaperTable(POSTER_SOURCE, {
        "LRPF eps=10": (0.0127, 0.0084, 0.0241, 98.7), "LRPF eps=20": (0.0145, 0.0079, 0.0542, 100.0),
        "LRPF eps=40": (0.0151, 0.0066, 0.0819, 100.0), "DFF": (0.0020, 0.0013, 0.0029, 100.0),
        "PGDF": (0.0078, 0.0092, 0.0035, 95.7),
    }),
}


@dataclass(frozen=True)
class StudyConfig:
    """Everything that decides the study's numbers (and keys its cache entries); each setting's help is
    the line ``c2f-eval --help`` shows for it."""

    level: str = setting("coarse", "coarse: LRPC, DFC, PGDC (Table 1); fine: LRPF, DFF, PGDF, keeping the coarse "
                         "class (Table 2)", choices=LEVELS)
    attacks: tuple[str, ...] = setting(ATTACKS, "the table's columns", choices=ATTACKS)
    eps_255: tuple[float, ...] = setting((10.0, 20.0, 40.0), "LRP budgets, 0-255 scale", flag="--eps")
    lrp_steps: int = setting(20, "LRP attack steps (all taken unless --lrp-early-stop)")
    lrp_p: float = setting(2.0, "norm order p of the LRP loss")
    lrp_composite: str = setting("zplus_zbox", "LRP rules of the maps the attack's loss is of (zplus_zbox: the "
                                 "poster's z+ / z-beta)", choices=COMPOSITES)
    lrp_signed_inputs: str = setting("split", "z+ on hidden inputs that can be negative: split (zennit's rule) or "
                                     "as_written (the poster's formula taken literally; see core.explain.lrp)",
                                     choices=SIGNED_INPUTS)
    lrp_init: str = setting("logit", "output relevance R^L of the LRP maps the attack's loss is of: the target's "
                            "logit, or 1 (the poster's delta_ic)", choices=INITS)
    lrp_early_stop: bool = setting(EARLY_STOP, "stop each image's LRP attack at its first success (with l2 steps: "
                                   "the poster's perceptibility profile); --no-lrp-early-stop takes every step")
    lrp_step_rule: str = setting(STEP_RULE, "LRP attack step: sign(grad), grad / max|grad| or sqrt(D) grad / "
                                 "||grad||_2 (l2: the poster's perceptibility profile, see docs/results.md)",
                                 flag="--lrp-step", choices=STEP_RULES)
    lrp_alpha_255: float | None = setting(None, "LRP step size, 0-255 scale (default: 2.5 eps / steps)",
                                          flag="--lrp-alpha")
    deepfool_steps: int = setting(50, "most DeepFool steps")
    deepfool_overshoot: float = setting(0.02, "DeepFool's overshoot")
    deepfool_candidates: int = setting(10, "classes other than the original one that DeepFool considers: the top "
                                       "ones at the start (the reference code's num_classes, which counts the "
                                       "original, is this plus 1)")
    deepfool_crossing: float = setting(CROSSING, "how far past the linearised boundary each DeepFool step reaches "
                                       "(the reference code's 1e-4; 0: the paper's Algorithm 1)")
    pgd_eps_255: float = setting(10.0, "PGD budget, 0-255 scale", flag="--pgd-eps")
    pgd_alpha_255: float = setting(1.0, "PGD step size, 0-255 scale", flag="--pgd-alpha")
    pgd_steps: int = setting(20, "most PGD steps; it stops at its first success")
    pgd_random_start: bool = setting(False, "start PGD at a uniformly random point of its budget's ball (seeded) "
                                     "instead of the image")
    over: str = setting("success", "images the perceptibility mean runs over", choices=OVER)

    def __post_init__(self):
        check_level(self.level)
        unknown = set(self.attacks) - set(ATTACKS)
        if unknown or not self.attacks:
            raise InputError(f"Attacks must be among {', '.join(ATTACKS)}; got {sorted(unknown) or 'none'}.")
        self.lrp_rules()  # refuses unusable rules with their message
        check_norm_order(self.lrp_p)
        check_choice("LRP step rule", self.lrp_step_rule, STEP_RULES)
        check_choice("set of images for the perceptibility mean", self.over, OVER)
        for e in (*self.eps_255, self.pgd_eps_255):
            eps_from_255(e)
        if "lrp" in self.attacks and 0 in self.eps_255:
            raise InputError("An LRP budget (--eps) of 0 attacks nothing: give epsilons above 0 (0-255 scale).")
        if "pgd" in self.attacks and self.pgd_eps_255 == 0:
            raise InputError("A PGD budget (--pgd-eps) of 0 attacks nothing: give one above 0 (0-255 scale).")
        if "lrp" in self.attacks and not self.eps_255:
            raise InputError("The LRP attack needs at least one epsilon.")
        for name in ("lrp_steps", "deepfool_steps", "pgd_steps"):
            check_count(name.replace("_", " "), getattr(self, name), 1)
        check_deepfool_settings(self.deepfool_steps, self.deepfool_overshoot, self.deepfool_candidates,
                                self.deepfool_crossing)
        for name, alpha in (("PGD", self.pgd_alpha_255), ("LRP", self.lrp_alpha_255)):
            if alpha is not None:
                check_number(f"The {name} step", alpha, "in (0, 255] on the 0-255 scale", lambda a: 0 < a <= 255)
        object.__setattr__(self, "eps_255", tuple(sorted(set(map(float, self.eps_255)))))

    def caveats(self) -> list[str]:
        """Settings that run but cannot do what they seem to ask for (shown before the run)."""
        reach = self.pgd_steps * self.pgd_alpha_255
        if "pgd" in self.attacks and reach < self.pgd_eps_255:
            return [f"PGD's {counted(self.pgd_steps, 'step')} of {self.pgd_alpha_255:g}/255 can move a pixel by "
                    f"at most {reach:g}/255, less than its budget of {self.pgd_eps_255:g}/255: raise the steps or "
                    "the step size."]
        return []

    def lrp_rules(self) -> LRPRules:
        """The LRP rules of the attack, for maps drawn to match it (``relevance_pair``)."""
        return LRPRules(composite=self.lrp_composite, init=self.lrp_init, signed_inputs=self.lrp_signed_inputs)

    def runs(self, target: int | None = None) -> list[tuple[str, str, dict[str, Any]]]:
        """(column name, attack, parameters) for every column of the table, in the poster's order; with
        ``target``, the LRP attack aimed at that class of the level instead of the runner-up (the page's)."""
        coarse = self.level == "coarse"
        cols = []
        if "lrp" in self.attacks:
            for e in self.eps_255:
                cols.append((f"{'LRPC' if coarse else 'LRPF'} eps={e:g}", "lrp",
                             {"eps": eps_from_255(e), "steps": self.lrp_steps, "p": self.lrp_p,
                              "rules": self.lrp_rules(),
                              "early_stop": self.lrp_early_stop, "step_rule": self.lrp_step_rule}
                             | ({} if self.lrp_alpha_255 is None else {"alpha": self.lrp_alpha_255 / 255})
                             | ({} if target is None else {"target": target})))
        if "deepfool" in self.attacks:
            cols.append(("DFC" if coarse else "DFF", "deepfool",
                         {"steps": self.deepfool_steps, "overshoot": self.deepfool_overshoot,
                          "candidates": self.deepfool_candidates}
                         | _changed(crossing=(self.deepfool_crossing, CROSSING))))
        if "pgd" in self.attacks:
            cols.append(("PGDC" if coarse else "PGDF", "pgd",
                         {"eps": eps_from_255(self.pgd_eps_255), "alpha": self.pgd_alpha_255 / 255,
                          "steps": self.pgd_steps, "early_stop": True}
                         | _changed(random_start=(self.pgd_random_start, False))))
        return cols


def _changed(**settings: tuple[Any, Any]) -> dict[str, Any]:
    """Of ``name=(value, default)``, the settings whose value is not their default: only these enter a
    column's parameters, so that runs at the defaults keep the cache keys they had before the setting."""
    return {name: value for name, (value, default) in settings.items() if value != default}


RUNNERS: dict[str, Callable[..., AttackResult]] = {"lrp": lrp_c2f, "deepfool": deepfool_c2f, "pgd": pgd_c2f}


@dataclass(frozen=True)
class StudyResult:
    config: StudyConfig
    image_names: list[str]
    columns: list[Column] = field(default_factory=list)
    image_digests: list[str] | None = None
    batch_size: int = BATCH_SIZE  # another batch size can give other perturbations (``evaluate``)

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.config.level, "config": self.config.__dict__, "images": self.image_names,
                "image_digests": self.image_digests, "batch_size": self.batch_size,
                "perceptibility_over": self.config.over, "columns": [c.to_dict() for c in self.columns],
                "poster": self.poster.columns}

    @property
    def poster(self) -> PaperTable:
        return POSTER[self.config.level]

    def npz(self, x: torch.Tensor) -> bytes:
        """The images ``x`` (N, C, H, W) the study ran on, their names, and each column's exact adversarial
        images, success, iterations and labels, as one compressed NPZ (``tables.npz``)."""
        return tables.npz(x, self.image_names, self.columns)

    def table(self, means: str | None = None) -> tables.Values:
        """Row key -> column name -> value, in the poster's layout; with ``means`` ("success" or "all")
        the rho rows alone, averaged over that set of images whatever ``over`` the study chose."""
        if means is None:
            return tables.values(ROWS, self.columns)
        return {row: {c.name: c.figures[f"{row}_{means}"] for c in self.columns} for row, _ in NORMS}

    def format(self, markdown: bool = False) -> str:
        """The poster's table layout (plain text or markdown): ours, then the poster's own numbers."""
        names = [c.name for c in self.columns]
        over = "successful attacks" if self.config.over == "success" else "all images"
        gap = [""] if markdown else []  # markdown needs blank lines around a table
        notes = [f"note: {note}" for note in self.notes()]
        return "\n".join([
            f"{self.config.level.capitalize()}-level attacks on {n_images(len(self.image_names))} (rho over {over})",
            *gap, tables.render(ROWS, names, self.table(), markdown), *(gap if notes else []), *notes, "",
            "95 % intervals: bootstrap of each mean, exact binomial for the fooling ratio", *gap,
            tables.render(INTERVAL_ROWS, names, tables.values(INTERVAL_ROWS, self.columns), markdown), "",
            self.poster.source, *gap, tables.render(ROWS, names, self.poster_table(), markdown),
        ])

    def coarse_counts(self, coarse_names: Sequence[str]) -> dict[str, int]:
        """How many of the images the model puts in each coarse class (before any attack)."""
        counts = torch.bincount(self.columns[0].result.labels["r_org"].cpu(), minlength=len(coarse_names)).tolist()
        return dict(zip(coarse_names, counts))

    def poster_table(self) -> tables.Values:
        """The poster's figures in the layout of ``table()``, for our columns (None where it has no such column)."""
        return self.poster.values(ROWS, [c.name for c in self.columns])

    def rounded_counts(self, column: Column) -> tuple[int, int]:
        """How many images ``column``'s attack fooled, and how many of them still fool once rounded to 8 bits."""
        n = len(self.image_names)
        fooled, kept = (round(column.figures[k] * n / 100) for k in ("fooling_pct", "fooling_pct_8bit"))
        return fooled, kept

    def notes(self, missing: str = "-") -> list[str]:
        """What our table alone does not say: columns whose successes do not all survive rounding to
        8 bits, and what a missing figure (written ``missing``) means."""
        n = len(self.image_names)
        notes = []
        for c in self.columns:
            fooled, kept = self.rounded_counts(c)
            if kept < fooled:
                notes.append(f"rounded to 1/255 as an 8-bit PNG stores them, {c.name}'s adversarial images fool "
                             f"{kept} of {n} (unrounded: {fooled}).")
        if any(c.figures["rho_2"] is None for c in self.columns):
            notes.append(f"'{missing}': no attack of that column succeeded, so there is no perceptibility to average.")
        return notes


def n_images(n: int) -> str:
    """``"1 image"``, ``"6 images"``."""
    return counted(n, "image")


def relevance_pair(hc: HierarchicalClassifier, x: torch.Tensor, labels: C2FLabels, level: str,
                   rules: LRPRules) -> tuple[torch.Tensor, torch.Tensor]:
    """The poster's maps at ``x``: ``LRP_C(x; r_org), LRP_C(x; r_adv)`` (coarse) or
    ``LRP_{F^{r_org}}(x; f_org), LRP_{F^{r_org}}(x; f_adv)`` (fine), each (N, C, H, W), by the rules the
    attack uses (``StudyConfig.lrp_rules()``): the maps its loss is of."""
    head = hc.coarse if level == "coarse" else hc.fine_head(labels.r_org)
    return (relevance(head, x, labels.original(level), "lrp", **rules.params()),
            relevance(head, x, labels.adversarial(level), "lrp", **rules.params()))


def figures(result: AttackResult, x: torch.Tensor, over: str) -> dict[str, Any]:
    """``rho_p`` over the chosen images (``over``: "success" or "all"), ``rho_p_success`` and
    ``rho_p_all`` over each set (None where it is empty), and the fooling ratio in percent; with each
    ``rho_p`` and the fooling ratio its 95 % interval, ``<figure>_ci`` (``core.metrics.intervals``: the
    bootstrap of the mean, the exact binomial interval)."""
    out: dict[str, Any] = {}
    chosen = result.success if over == "success" else torch.ones_like(result.success)
    for name, p in NORMS:
        values = perceptibility(result.delta, x, p)  # once per norm, for both means
        out[f"{name}_success"] = masked_mean(values, result.success)
        out[f"{name}_all"] = masked_mean(values)
        out[name] = out[f"{name}_{over}"]
        out[f"{name}_ci"] = bootstrap_interval(values[chosen])
    out["fooling_pct"] = 100.0 * fooling_ratio(result.success)
    low, high = binomial_interval(int(result.success.sum()), result.success.numel())
    out["fooling_pct_ci"] = (100.0 * low, 100.0 * high)
    return out


def survives_8bit(hc: HierarchicalClassifier, result: AttackResult, level: str,
                  batch_size: int = BATCH_SIZE) -> torch.Tensor:
    """Which images (N,) the attack fooled and still fools once its adversarial image is rounded to
    multiples of 1/255, as an 8-bit PNG stores it (a perturbation far below 1/255 does not survive)."""
    labels = C2FLabels.from_record(result.labels)
    rows = torch.arange(result.success.shape[0], device=result.x_adv.device)
    with model_lock(hc):
        met = torch.cat([goal_met(hc, level, labels, r, as_saved_8bit(result.x_adv[r]))
                         for r in rows.split(batch_size)])
    return result.success & met


def run_column(hc: HierarchicalClassifier, x: torch.Tensor, attack: str, level: str, params: dict[str, Any], *,
               model_id: str | None = None, image_digests: Sequence[str] | None = None,
               cache: ResultCache | None = None, batch_size: int = BATCH_SIZE, progress=None) -> AttackResult:
    """One attack of the table (``RUNNERS[attack]`` at ``level``) through the study runner: in chunks of
    ``batch_size`` images, each read from the cache when the same run on the same images was done before."""
    return run_attack("c2f", attack, RUNNERS[attack], hc, x, {"level": level, **params}, model_id=model_id,
                      input_digests=image_digests, cache=cache, batch_size=batch_size, progress=progress)


def estimate_seconds(config: StudyConfig, *, model_id: str, image_digests: Sequence[str], cache: ResultCache,
                     batch_size: int = BATCH_SIZE, target: int | None = None) -> float | None:
    """How long the columns of ``config`` would take on these images on this machine (``run_column``'s runs;
    ``target``: the LRP attack's, as the page aims it): the runner's estimate of each, from this machine's
    own last runs; None where some column never ran here."""
    total = 0.0
    for _, attack, params in config.runs(target):
        seconds = estimate_run("c2f", attack, {"level": config.level, **params}, model_id=model_id,
                               input_digests=image_digests, cache=cache, batch_size=batch_size)
        if seconds is None:
            return None
        total += seconds
    return total


def outside_hierarchy(hc: HierarchicalClassifier, x: torch.Tensor, image_names: Sequence[str],
                      class_names: Sequence[str], batch_size: int = BATCH_SIZE) -> dict[str, str]:
    """Image name -> its flat top-1 class, for the images whose top-1 class is in no coarse class (their
    coarse class is just the strongest group; ``HierarchicalClassifier.outside``)."""
    with model_lock(hc):
        top = torch.cat([hc.outside(chunk) for chunk in x.split(batch_size)]).tolist()
    return {str(name): class_names[t] for name, t in zip(image_names, top) if t >= 0}


def evaluate(hc: HierarchicalClassifier, x: torch.Tensor, config: StudyConfig, *, image_names: Sequence[str],
             model_id: str | None = None, image_digests: Sequence[str] | None = None,
             cache: ResultCache | None = None, batch_size: int = BATCH_SIZE, progress=None) -> StudyResult:
    """Run every column of the table on the batch ``x`` and compute the poster's figures."""
    check_images(x)
    blank = blank_images(x)
    if blank.any():
        names = ", ".join(str(image_names[i]) for i in blank.nonzero().flatten().tolist())
        raise InputError(f"All-black images have no perceptibility (||x||_p = 0): {names}. Leave them out.")
    runs = config.runs()
    columns = []
    for i, (name, attack, params) in enumerate(runs):
        part = sub_progress(progress, i / len(runs), (i + 1) / len(runs), f"{name}: ")
        result = run_column(hc, x, attack, config.level, params, model_id=model_id, image_digests=image_digests,
                            cache=cache, batch_size=batch_size, progress=part)
        rounded = 100.0 * fooling_ratio(survives_8bit(hc, result, config.level, batch_size))
        columns.append(Column(name, result, figures(result, x, config.over) | {"fooling_pct_8bit": rounded}))
        if part is not None:
            part(1.0, "done")
    return StudyResult(config, list(image_names), columns, None if image_digests is None else list(image_digests),
                       batch_size)
