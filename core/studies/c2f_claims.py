"""The LRP poster's claims (seed 000), each checked on one of our C2F tables and on the poster's own.

- ``fooling_rises``: the LRP attack's fooling ratio does not fall as eps grows (poster, Table 1:
  87.1, 92.5, 99.3 %).
- ``between``: the LRP attack's perceptibility lies between DeepFool's (the minimal perturbation) and
  PGD's, strictly, per rho_p and eps; it holds on ours where, on each rho_p for which it holds at every
  eps on the poster's table (rho_1, at both levels), it holds at every eps on ours too.
- ``keeps_coarse`` (fine level): the share of all images, fooled or not, whose coarse class the LRPF
  attack leaves as it was (``labels["coarse_after"] == labels["r_org"]``); held at ``KEEP_SHARE`` or more
  at every eps (the poster's LRPF fooling ratios, 98.7-100 %, count only images that kept it).
- ``deepfool_8bit``: DeepFool's minimal perturbations do not survive rounding to 8 bits, as a PNG stores
  an image: held where at most ``SURVIVE_SHARE`` of its successes still fool once rounded (the poster
  keeps its images in floating point and does not say).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from core.studies.c2f import NORMS, StudyResult

KEEP_SHARE = 0.95  # share of images LRPF must leave in their coarse class at every eps
SURVIVE_SHARE = 0.5  # share of DeepFool's successes that may survive 8-bit rounding for the claim to hold
RHO_NAMES = {"rho_2": "ρ₂", "rho_1": "ρ₁", "rho_inf": "ρ∞"}


@dataclass(frozen=True)
class Claim:
    """One claim: what it says, what our table and the poster's show, and whether ours bears it out
    (None where our table lacks the columns it needs)."""

    key: str
    statement: str
    ours: str
    poster: str
    holds: bool | None

    def line(self) -> str:
        verdict = {True: "holds", False: "does not hold", None: "not checked"}[self.holds]
        return f"[{verdict}] {self.statement}: ours {self.ours}; poster {self.poster}"


def check(result: StudyResult) -> list[Claim]:
    """The claims that ``result``'s columns can bear on, in the order of the module docstring."""
    kinds = {name: attack for name, attack, _ in result.config.runs()}
    columns = {c.name: c for c in result.columns}
    lrp = [name for name in columns if kinds.get(name) == "lrp"]
    deepfool = next((name for name in columns if kinds.get(name) == "deepfool"), None)
    pgd = next((name for name in columns if kinds.get(name) == "pgd"), None)
    ours, poster = result.table(), result.poster_table()
    attack = "LRPC" if result.config.level == "coarse" else "LRPF"
    claims = [_fooling_rises(attack, lrp, ours, poster, columns)] if lrp else []
    if lrp and deepfool and pgd:
        claims.append(_between(attack, lrp, deepfool, pgd, ours, poster))
    if result.config.level == "fine" and lrp:
        claims.append(_keeps_coarse(lrp, columns))
    if deepfool:
        claims.append(_deepfool_8bit(deepfool, *result.rounded_counts(columns[deepfool])))
    return claims


def report_fields(result: StudyResult, coarse_names: list[str], claims: list[Claim]) -> dict[str, Any]:
    """What a table's JSON carries beside ``result.to_dict()`` (c2f-eval's and the page's alike): the
    images per coarse class and the claims (``check(result)``)."""
    return {"images_per_coarse_class": result.coarse_counts(coarse_names), "claims": [asdict(c) for c in claims]}


def text(claims: list[Claim]) -> str:
    """The claims as lines, under a heading."""
    return "\n".join(["The poster's claims on this table:", *(f"  {c.line()}" for c in claims)])


def _eps(name: str) -> str:
    return name.split("=", 1)[1]


def _fooling_rises(attack, lrp, ours, poster, columns) -> Claim:
    fooling = [ours["fooling_pct"][n] for n in lrp]
    cis = [columns[n].figures.get("fooling_pct_ci") for n in lrp]
    shown = ", ".join(f"{f:.1f} %" + (f" ({ci[0]:.1f}–{ci[1]:.1f})" if ci else "") + f" at eps {_eps(n)}"
                      for n, f, ci in zip(lrp, fooling, cis))
    theirs = [poster["fooling_pct"][n] for n in lrp if poster["fooling_pct"][n] is not None]
    return Claim("fooling_rises", f"{attack}'s fooling ratio rises with eps", shown or "no LRP column",
                 ", ".join(f"{v:.1f} %" for v in theirs) or "-",
                 all(a <= b for a, b in zip(fooling, fooling[1:])) if len(fooling) > 1 else None)


def _between_pairs(values, lrp, deepfool, pgd) -> set[tuple[str, str]]:
    """(rho, eps) where the LRP column's rho lies strictly between DeepFool's and PGD's."""
    pairs = set()
    for rho, _ in NORMS:
        ends = (values[rho][deepfool], values[rho][pgd])
        for name in lrp:
            v = values[rho][name]
            if None not in (v, *ends) and min(ends) < v < max(ends):
                pairs.add((rho, _eps(name)))
    return pairs


def _everywhere(pairs: set[tuple[str, str]], lrp: list[str]) -> set[str]:
    """The rho on which ``pairs`` holds at every eps of the LRP columns."""
    return {rho for rho, _ in NORMS if all((rho, _eps(n)) in pairs for n in lrp)}


def _pairs_text(pairs: set[tuple[str, str]], lrp: list[str]) -> str:
    order = [_eps(n) for n in lrp]
    parts = []
    for rho, _ in NORMS:
        eps = [e for e in order if (rho, e) in pairs]
        if eps:
            parts.append(f"{RHO_NAMES[rho]} at eps {', '.join(eps)}")
    return "; ".join(parts) or "on no ρ"


def _between(attack, lrp, deepfool, pgd, ours, poster) -> Claim:
    mine = _between_pairs(ours, lrp, deepfool, pgd)
    theirs = _between_pairs(poster, lrp, deepfool, pgd)
    has_columns = all(poster["rho_1"][n] is not None for n in (*lrp, deepfool, pgd))
    reference = _everywhere(theirs, lrp) or {"rho_1"}  # rho_1 where the poster has no such columns
    return Claim("between", f"{attack}'s perceptibility lies between {deepfool}'s and {pgd}'s",
                 _pairs_text(mine, lrp), _pairs_text(theirs, lrp) if has_columns else "has no such columns",
                 reference <= _everywhere(mine, lrp))


def _keeps_coarse(lrp, columns) -> Claim:
    shares = []
    for name in lrp:
        labels = columns[name].result.labels
        shares.append(int((labels["coarse_after"] == labels["r_org"]).sum()) / labels["r_org"].numel())
    shown = ", ".join(f"{100 * s:.1f} % of the images at eps {_eps(n)}" for n, s in zip(lrp, shares))
    return Claim("keeps_coarse", f"LRPF keeps the coarse class (at least {100 * KEEP_SHARE:.0f} % of the images)",
                 shown, "its fooling ratios, 98.7-100 %, count only images that kept it",
                 all(s >= KEEP_SHARE for s in shares))


def _deepfool_8bit(name, fooled, kept) -> Claim:
    return Claim("deepfool_8bit", f"{name}'s minimal perturbations do not survive 8-bit rounding (at most "
                 f"{100 * SURVIVE_SHARE:.0f} % of its successes still fool)",
                 f"{kept} of {fooled} successes still fool once rounded", "not measured (floating-point images)",
                 None if fooled == 0 else kept <= SURVIVE_SHARE * fooled)
