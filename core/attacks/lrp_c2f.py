"""LRP-guided attacks on coarse-to-fine classifiers: LRPC and LRPF (seed 000, the LRP poster).

With ``R_o = LRP_C(x + eta; r_org)`` and ``R_a = LRP_C(x + eta; r_adv)`` computed by the poster's rules
(z+ in hidden layers, z-beta at the input: composite ``zplus_zbox``), LRPC minimises

    L_C = ||R_o^+||_p - ||R_a^+||_p - ||R_o^-||_p + ||R_a^-||_p

(``R^+ = max(R, 0)``, ``R^- = min(R, 0)``), differentiated through the explanation
(``DifferentiableLRP``), until ``C(x + eta) != r_org``. LRPF does the same with ``LRP_{F^{r_org}}`` for
``f_org`` and ``f_adv``, until ``F^{r_org}(x + eta) != f_org`` with ``C(x + eta) = r_org``; only such
images count as successes. Optimiser (our choice, the poster names none): l2-normalised steps
``eta <- eta - alpha sqrt(D) grad L / ||grad L||_2`` (``step_rule="l2"``, ``core.attacks.loop``) projected
onto ``||eta||_inf <= eps`` and [0, 1], each image stopped at its first success (``early_stop=True``).
Of the optimisers we ran on the 500-class sample this one's perceptibility profile is closest to the
poster's: rho_inf at eps/255 (one step already takes the pixels of largest gradient to the ball's
edge), rho_2 and rho_1 well below it; signed steps fill the whole ball, scaled ones stay far inside
it, and taking every step moves every pixel more (docs/results.md, "The step rule"). With
``early_stop=False`` every step is taken, and an image whose last iterate misses the goal returns its
last successful one. Defaults:
``p = 2``, ``steps = 20``, ``alpha = 2.5 eps / steps``; z+ on hidden inputs of either sign:
``signed_inputs="split"`` (see ``core.explain.lrp``).
Both relevance maps come from one forward pass and one relevance pass carrying both maps.
With these rules every map has the sign of its output relevance: z+'s terms ``x^+ w^+``, ``x^- w^-`` and
z-beta's ``(x - l) w^+ + (x - h) w^-`` are never negative. Where both logits are positive the ``R^-``
terms of L_C are 0 and L_C = ``||R_o^+||_p - ||R_a^+||_p``; ``signed_inputs="as_written"`` gives maps
of both signs where hidden inputs are negative.

Output relevance (our choice, a parameter): ``init="logit"``, ``R^L = delta_{ic} f_c(x + eta)``, as LRP
implementations commonly seed it. The poster writes ``R^L = delta_{ic}`` (``init="onehot"``); on a
network whose rules conserve relevance, each map then sums to 1 whatever the input, so L_C with
p = 1 is constant and with other p it can only reshape the maps, and the attack hardly moves the
decision (measured in docs/methods.md). The other side of the logit seed: where relevance is conserved
each map is the logit times one that sums to 1, so L_C with p = 1 is exactly the logit margin
``C_org - C_adv`` (LRPC is then a margin attack), and with p = 2 its gradient comes mostly through the
logits; the maps' shape weighs more where relevance is not conserved, as on EfficientNet-Lite0.
"""
from __future__ import annotations

import math

import torch

from core.attacks.budget import linf_budget
from core.attacks.c2f import C2FLabels, aimed, check_level, judged, label_record
from core.attacks.loop import Progress, StepOutcome, projected_ascent
from core.attacks.result import AttackResult
from core.explain.lrp import DifferentiableLRP, LRPRules
from core.explain.rules import fixed_weights
from core.models.hierarchy import HierarchicalClassifier
from core.models.locks import model_lock
from core.validate import check_images_for, check_number

POSTER_RULES = LRPRules()  # z+ / z-beta, logit-seeded, split z+ on signed inputs, no biases
STEP_RULE = "l2"  # with EARLY_STOP, the optimiser whose perceptibility profile is the poster's (module docstring)
EARLY_STOP = True


def lrp_norms(relevance: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(||R^+||_p, ||R^-||_p)`` of every map of ``relevance`` (2, N, C, H, W), each (2, N). Computed as
    ``m ||t / m||_p`` with ``m = max |t|`` (equal, by homogeneity, also in its gradient): relevance values
    of 1e-5 raised to a power p of 30 or more vanish in float32, and the norm with them."""
    def norms(t: torch.Tensor) -> torch.Tensor:
        t = t.flatten(2)
        if p in (1, math.inf):
            return torch.linalg.vector_norm(t, ord=p, dim=2)
        largest = t.abs().amax(dim=2, keepdim=True)
        return largest.squeeze(2) * torch.linalg.vector_norm(t / largest.clamp_min(torch.finfo(t.dtype).tiny),
                                                             ord=p, dim=2)

    return norms(relevance.clamp(min=0)), norms(relevance.clamp(max=0))


def lrp_loss(relevance: torch.Tensor, p: float) -> torch.Tensor:
    """``L = ||R_o^+||_p - ||R_a^+||_p - ||R_o^-||_p + ||R_a^-||_p`` per image (poster's L_C / L_F) from
    the maps ``relevance = (R_o, R_a)`` stacked as (2, N, C, H, W)."""
    return loss_of_norms(*lrp_norms(relevance, p))


def loss_of_norms(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """``lrp_loss`` from the norms ``lrp_norms`` gives, each (2, N)."""
    return (positive[0] - positive[1]) - (negative[0] - negative[1])


class LRPObjective:
    """Gain ``-L`` and its input gradient through the relevance maps made by ``rules``; goal of the level."""

    def __init__(self, hc: HierarchicalClassifier, labels: C2FLabels, level: str, p: float, rules: LRPRules):
        self.hc, self.labels, self.level, self.p, self.rules = hc, labels, level, p, rules
        self.goal = labels.goal(level)
        self._fine: tuple[torch.Tensor, torch.nn.Module] | None = None  # (rows, their fine head)

    def _head(self, rows: torch.Tensor):
        if self.level == "coarse":
            return self.hc.coarse
        if self._fine is None or self._fine[0] is not rows:  # the loop passes the same rows while none stops,
            self._fine = (rows, self.hc.fine_head(self.labels.r_org[rows]))  # so LRP traces the head once
        return self._fine[1]

    def step(self, x_adv, rows):
        x_adv = x_adv.detach().requires_grad_()
        targets = torch.stack([self.labels.original(self.level)[rows], self.labels.adversarial(self.level)[rows]])
        rules = self.rules
        with DifferentiableLRP(self._head(rows), rules.composite, ignore_bias=rules.ignore_bias,
                               signed_inputs=rules.signed_inputs) as explain:
            logits, relevance = explain(x_adv, targets, rules.init)
            loss = lrp_loss(relevance, self.p)
            grad = explain.grad(loss.sum(), x_adv)
        return StepOutcome(-loss.detach(), self._met(x_adv.detach(), rows, logits.detach()), -grad)

    def _met(self, x_adv, rows, head_logits):
        if self.level == "coarse":
            return self.goal(rows, head_logits)
        with torch.no_grad():
            return self.goal(rows, self.hc.coarse(x_adv), head_logits)

    def success(self, x_adv, rows):
        return judged(self.hc, self.level, self.labels, rows, x_adv)


def check_norm_order(p: float) -> float:
    """The norm order p of the LRP loss: at least 1 (or inf)."""
    return check_number("The norm order p of the LRP loss", p, ">= 1 (or inf)", lambda v: v >= 1)


def lrp_c2f(hc: HierarchicalClassifier, x: torch.Tensor, *, level: str = "coarse", eps: float = 10 / 255,
            alpha: float | None = None, steps: int = 20, p: float = 2.0, rules: LRPRules = POSTER_RULES,
            early_stop: bool = EARLY_STOP, step_rule: str = STEP_RULE, random_start: bool = False, seed: int = 0,
            target: int | torch.Tensor | None = None, progress: Progress | None = None) -> AttackResult:
    """LRPC (``level="coarse"``) or LRPF (``level="fine"``); ``eps`` is an l_inf budget in [0, 1] units;
    ``rules`` the LRP rules of the maps the loss is of. ``target``: the adversarial class whose evidence
    the loss builds, r_adv (a coarse class) or f_adv (a position within r_org's fine classes); None: the
    runner-up, as in the poster (``c2f.aimed``)."""
    check_level(level)
    check_norm_order(p)
    check_images_for(hc, x)
    ball, alpha = linf_budget(eps, alpha, steps)
    with model_lock(hc), fixed_weights():  # weights stay put: each layer's LRP kernels are prepared once
        labels = aimed(hc, C2FLabels.of(hc, x), level, target)
        out = projected_ascent(x, LRPObjective(hc, labels, level, p, rules), projection=ball, alpha=alpha, steps=steps,
                               start_random=random_start, seed=seed, early_stop=early_stop, step_rule=step_rule,
                               keep_success=True, movable=labels.attackable(level), progress=progress)
        record = label_record(labels, *out.outputs)  # from the pass that judged success
    params = {"level": level, "eps": eps, "alpha": alpha, "steps": steps, "p": p, **rules.params(),
              "early_stop": early_stop, "step_rule": step_rule, "random_start": random_start, "seed": seed,
              "target": None if target is None else torch.as_tensor(target).tolist()}
    return AttackResult("LRPC" if level == "coarse" else "LRPF", out.x_adv, out.x_adv - x.detach(), out.success,
                        out.iterations, params, record, {"lrp_loss": -out.gain})


def lrpc(hc: HierarchicalClassifier, x: torch.Tensor, **params) -> AttackResult:
    """LRPC: the coarse-level LRP attack (see ``lrp_c2f``)."""
    return lrp_c2f(hc, x, level="coarse", **params)


def lrpf(hc: HierarchicalClassifier, x: torch.Tensor, **params) -> AttackResult:
    """LRPF: the fine-level LRP attack, which keeps the coarse class (see ``lrp_c2f``)."""
    return lrp_c2f(hc, x, level="fine", **params)
