"""The poster's claims checked on hand-made C2F tables whose verdicts are known."""
import pytest
import torch

from core.attacks.result import AttackResult
from core.studies import c2f as study
from core.studies import c2f_claims as claims
from core.studies.table import Column

N = 20


def _column(name: str, rho: tuple[float, float, float], fooling: float, fooling_8bit: float | None = None,
            coarse_changed: int = 0) -> Column:
    """A column of N images with the given figures; ``coarse_changed`` images end in another coarse class."""
    r_org = torch.zeros(N, dtype=torch.long)
    after = r_org.clone()
    after[:coarse_changed] = 1
    zeros = torch.zeros(N, 3, 2, 2)
    result = AttackResult(name, zeros, zeros, torch.arange(N) < round(fooling * N / 100), torch.ones(N),
                          labels={"r_org": r_org, "coarse_after": after})
    figures = dict(zip(("rho_2", "rho_1", "rho_inf"), rho)) | {
        "fooling_pct": fooling, "fooling_pct_8bit": fooling if fooling_8bit is None else fooling_8bit,
        "fooling_pct_ci": (fooling - 5, min(fooling + 5, 100.0))}
    return Column(name, result, figures)


def _poster_columns(level: str, **changes) -> list[Column]:
    """The poster's own Table 1 / 2 as our columns, with ``changes`` (column -> keyword arguments) applied."""
    out = []
    for name, (r2, r1, rinf, fooling) in study.POSTER[level].columns.items():
        out.append(_column(name, **({"rho": (r2, r1, rinf), "fooling": fooling} | changes.get(name, {}))))
    return out


def _by_key(level: str, columns: list[Column]) -> dict[str, claims.Claim]:
    result = study.StudyResult(study.StudyConfig(level=level), [str(i) for i in range(N)], columns)
    return {c.key: c for c in claims.check(result)}


def test_the_posters_own_table_bears_out_its_claims_with_rho1_between():
    checked = _by_key("coarse", _poster_columns("coarse"))
    assert list(checked) == ["fooling_rises", "between", "deepfool_8bit"]  # keeps_coarse: fine level only
    assert checked["fooling_rises"].holds and checked["fooling_rises"].poster == "87.1 %, 92.5 %, 99.3 %"
    between = checked["between"]
    # rho_1 between DFC (0.0031) and PGDC (0.0224) at every eps; rho_inf only at eps 10 (0.0399 < DFC's 0.0408)
    assert between.holds and between.ours == between.poster == "ρ₁ at eps 10, 20, 40; ρ∞ at eps 10"
    assert checked["deepfool_8bit"].holds is False  # every DFC success kept in the hand-made column


def test_each_claim_fails_where_the_table_contradicts_it():
    columns = _poster_columns("coarse", **{
        "LRPC eps=40": {"rho": (0.04, 0.03, 0.15), "fooling": 90.0},  # rho_1 above PGDC's 0.0224; fooling falls
        "DFC": {"rho": (0.0045, 0.0031, 0.0408), "fooling": 100.0, "fooling_8bit": 45.0}})
    checked = _by_key("coarse", columns)
    assert checked["fooling_rises"].holds is False
    assert checked["between"].holds is False and checked["between"].ours == "ρ₁ at eps 10, 20; ρ∞ at eps 10"
    assert checked["deepfool_8bit"].holds
    assert checked["deepfool_8bit"].ours == "9 of 20 successes still fool once rounded"
    text = claims.text(claims.check(study.StudyResult(study.StudyConfig(), [str(i) for i in range(N)], columns)))
    assert "[does not hold] LRPC's fooling ratio rises with eps: ours 87.1 % (82.1–92.1) at eps 10" in text


def test_a_flat_fooling_ratio_counts_as_rising_and_half_the_successes_surviving_still_holds():
    columns = _poster_columns("coarse", **{f"LRPC eps={e}": {"rho": (0.03, 0.02, 0.04 * e / 10), "fooling": 100.0}
                                           for e in (10, 20, 40)})
    columns[3] = _column("DFC", (0.0045, 0.0031, 0.0408), 50.0, fooling_8bit=25.0)  # 5 of 10 survive
    checked = _by_key("coarse", columns)
    assert checked["fooling_rises"].holds
    assert checked["deepfool_8bit"].holds


@pytest.mark.parametrize("changed, holds", [(1, True), (2, False)])
def test_lrpf_keeps_the_coarse_class_on_at_least_95_percent_of_all_images(changed, holds):
    columns = _poster_columns("fine", **{"LRPF eps=20": {"rho": (0.0145, 0.0079, 0.0542), "fooling": 100.0,
                                                         "coarse_changed": changed}})
    keeps = _by_key("fine", columns)["keeps_coarse"]
    assert keeps.holds is holds
    assert f"{100 * (N - changed) / N:.1f} % of the images at eps 20" in keeps.ours


def test_claims_needing_missing_columns_are_left_out_or_unchecked():
    lrp_only = _by_key("coarse", _poster_columns("coarse")[:3])
    assert list(lrp_only) == ["fooling_rises"]
    one_eps = _by_key("coarse", [_column("LRPC eps=10", (0.03, 0.02, 0.04), 50.0)])
    assert one_eps["fooling_rises"].holds is None
    none_fooled = _by_key("coarse", [_column("DFC", (0.0, 0.0, 0.0), 0.0)])
    assert none_fooled["deepfool_8bit"].holds is None
    assert claims.Claim("k", "s", "o", "p", None).line() == "[not checked] s: ours o; poster p"


def test_eps_the_poster_lacks_fall_back_to_rho1_between():
    columns = [_column("LRPC eps=5", (0.05, 0.01, 0.02), 80.0), _column("DFC", (0.004, 0.003, 0.04), 100.0),
               _column("PGDC", (0.02, 0.02, 0.01), 100.0)]
    result = study.StudyResult(study.StudyConfig(eps_255=(5.0,)), [str(i) for i in range(N)], columns)
    between = {c.key: c for c in claims.check(result)}["between"]
    assert between.poster == "has no such columns" and between.holds  # rho_1 0.01 between 0.003 and 0.02
