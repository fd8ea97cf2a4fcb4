"""The C2F study's settings form and defaults, shared by the page's single-image attacks and its table
section (imported once, unlike the page script, which Streamlit runs anew on every rerun)."""
from __future__ import annotations

import math

import streamlit as st

from core.attacks.loop import STEP_RULES
from core.studies import c2f as study

EPS_OPTIONS = (2, 4, 8, 10, 16, 20, 32, 40, 64)
DEFAULT_CONFIG = study.StudyConfig()  # its LRP rules draw the maps before any attack has run


def p_text(p: float) -> str:
    """A norm order as the page writes it: 1, 2, ∞."""
    return "∞" if math.isinf(p) else f"{p:g}"


def poster_name(text: str) -> str:
    """Column names on the page as the poster writes them: "LRPC eps=10" -> "LRPC ε=10" (the JSON, the
    file names and the command line keep the ASCII name)."""
    return text.replace(" eps=", " ε=")


P_OPTIONS = {p_text(p): p for p in (1.0, 2.0, math.inf)}


def typed_budget(value) -> float | None:
    """An ε on the 0-255 scale, listed or typed into the field: a number in (0, 255], else None."""
    try:
        eps = float(value)
    except (TypeError, ValueError):
        return None
    return eps if 0 < eps <= 255 else None  # NaN fails both comparisons


LIMITS = {"steps": (1, 200), "step": (0.25, 64.0)}  # the form's ranges of step counts and of PGD's step (0-255)


def _range(kind: str) -> str:
    low, high = LIMITS[kind]
    return f"{low:g} to {high:g}"


LEVELS = {"coarse": "Coarse level: LRPC · DFC · PGDC", "fine": "Fine level: LRPF · DFF · PGDF"}


def symbols(level: str) -> tuple[str, str]:
    """The level's letter in the poster's labels and its word: ("r", "coarse") or ("f", "fine")."""
    return ("r", "coarse") if level == "coarse" else ("f", "fine")


def attack_settings(prefix: str, level: str) -> tuple[study.StudyConfig | None, str | None]:
    """The study's parameters (inside a form): a ``StudyConfig`` for ``level``, or None and why not."""
    left, mid, right = st.columns([2.2, 1, 1])
    eps = left.multiselect(
        "LRP attack: ε (0–255 scale)", EPS_OPTIONS, default=[int(e) for e in DEFAULT_CONFIG.eps_255],
        key=f"{prefix}_eps", accept_new_options=True,
        help="One LRP attack per ε, each bounded by ‖η‖∞ ≤ ε/255. Another ε (above 0, at most 255): type it and "
             "press Enter.")
    left.caption("The poster's ε is on the 0–255 pixel scale and is divided by 255 for images in [0, 1] "
                 "(e.g. 10 → 0.0392): no pixel changes by more than ε/255.")
    steps = mid.number_input("LRP steps", value=DEFAULT_CONFIG.lrp_steps, step=1, key=f"{prefix}_steps",
                             help=f"Most gradient steps on the LRP loss ({_range('steps')}); the attack stops at an "
                                  "image's first success unless “every LRP step” is ticked. DeepFool and PGD stop at "
                                  "their first success too.")
    p = right.selectbox("Norm order p of the LRP loss", list(P_OPTIONS),
                        index=list(P_OPTIONS.values()).index(DEFAULT_CONFIG.lrp_p), key=f"{prefix}_p",
                        help=r"The $p$ in $\|R^+\|_p$ and $\|R^-\|_p$ of the poster's loss.")
    step_rule = right.selectbox(
        "LRP step", STEP_RULES, index=STEP_RULES.index(DEFAULT_CONFIG.lrp_step_rule), key=f"{prefix}_step_rule",
        help="sign: every pixel moves by the step size (fills the ε-ball, ‖η‖∞ = ε/255); scaled: the pixel with "
             "the largest gradient moves by the step size and the others in proportion (sparser perturbations); "
             "l2: the gradient scaled to a sign step's l2 length, so pixels with large gradients reach ε/255 and "
             "the others move less. docs/results.md compares them with the poster's perceptibility.")
    every_step = right.checkbox(
        "Every LRP step", not DEFAULT_CONFIG.lrp_early_stop, key=f"{prefix}_every_step",
        help="Take every LRP step instead of stopping at the first success: the perturbation keeps growing after "
             "the label has changed (l2 steps stopped at the first success give the poster's perceptibility).")
    baselines = st.container(horizontal=True, gap="medium")  # wraps where the form is narrow
    deepfool = baselines.checkbox("DeepFool baseline", True, key=f"{prefix}_deepfool",
                           help="DFC / DFF: the smallest linearised step over the nearest decision boundary.")
    pgd = baselines.checkbox("PGD baseline", True, key=f"{prefix}_pgd",
                      help="PGDC / PGDF: signed gradient steps on the cross-entropy of the original class, "
                           "stopped at the first success.")
    pgd_random = baselines.checkbox("PGD random start", False, key=f"{prefix}_pgd_random",
                             help="Start PGD at a uniformly random point of its ε-ball (seeded, so a rerun gives "
                                  "the same result) instead of at the image.")
    c3, c4, c5 = st.columns(3)
    pgd_eps = c3.selectbox("PGD budget ε (0–255)", EPS_OPTIONS, index=EPS_OPTIONS.index(DEFAULT_CONFIG.pgd_eps_255),
                           key=f"{prefix}_pgd_eps", accept_new_options=True,
                           help="‖η‖∞ ≤ ε/255; another ε (above 0, at most 255): type it.")
    pgd_steps = c4.number_input("PGD steps", value=DEFAULT_CONFIG.pgd_steps, step=1, key=f"{prefix}_pgd_steps",
                                help=_range("steps"))
    pgd_alpha = c5.number_input("PGD step (0–255)", value=DEFAULT_CONFIG.pgd_alpha_255, step=0.25,
                                key=f"{prefix}_pgd_alpha",
                                help=f"How far each PGD step moves a pixel, on the 0–255 scale ({_range('step')}); "
                                     "steps × step must reach the budget for PGD to use all of it.")
    attacks = tuple(a for a, on in (("lrp", bool(eps)), ("deepfool", deepfool), ("pgd", pgd)) if on)
    if not attacks:
        return None, "Choose at least one ε or one baseline."
    unusable = [f"“{value}”" for value in [*eps, pgd_eps] if typed_budget(value) is None]
    if unusable:
        return None, f"An ε must be a number above 0 and at most 255 (0–255 scale), not {', '.join(unusable)}."
    outside = [f"{what} must be from {_range(kind)}, not {value:g}." for what, kind, value in
               (("LRP steps", "steps", steps), ("PGD steps", "steps", pgd_steps), ("The PGD step", "step", pgd_alpha))
               if not LIMITS[kind][0] <= value <= LIMITS[kind][1]]
    if outside:  # checked here, not by the inputs, whose own check only marks the field and blocks the run
        return None, " ".join(outside)
    config = study.StudyConfig(level=level, attacks=attacks, eps_255=tuple(map(typed_budget, eps)),
                               lrp_steps=int(steps), lrp_p=P_OPTIONS[p], lrp_step_rule=step_rule,
                               lrp_early_stop=not every_step,
                               pgd_eps_255=typed_budget(pgd_eps), pgd_alpha_255=float(pgd_alpha),
                               pgd_steps=int(pgd_steps), pgd_random_start=pgd_random)
    for caveat in config.caveats():
        st.caption(f":orange[{caveat}]")
    return config, None
