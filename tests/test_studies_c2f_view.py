"""The C2F study as the page shows it for one image (core.studies.c2f_view): labels with names and
probabilities, aiming, decisions, the LRP maps and loss terms, and verdicts, on the shipped MNIST model."""
import math

import numpy as np
import pytest
import torch

from core.attacks.c2f import C2FLabels
from core.attacks.lrp_c2f import lrp_loss, lrp_norms
from core.data import load_digits
from core.models import load
from core.studies import c2f as study
from core.studies.c2f_view import (
    ORIGINAL,
    DemoRow,
    LossTerms,
    NamedClass,
    NamedDecision,
    NamedLabels,
    Verdict,
    before_after_scale,
    demo_steps,
    grid_maps,
    lrp_maps,
)
from devices import DEVICES


@pytest.fixture(scope="module", params=DEVICES)
def mnist(request):
    loaded = load("mnist_cnn", hierarchy="mnist_c2f", device=request.param)
    return loaded.model, [image.tensor.to(loaded.device) for image in load_digits(10)]


def test_labels_are_the_argmax_and_runner_up_with_their_names_and_softmax_probabilities(mnist):
    hc, digits = mnist
    h = hc.hierarchy
    for x in digits:
        labels = NamedLabels.of(hc, x)
        with torch.no_grad():
            coarse, fine = hc.logits(x)
        cp = coarse.softmax(1)[0].cpu()
        members = h.fine_names[labels.r_org.index]
        fp = fine.softmax(1)[0, : len(members)].cpu()
        assert labels.coarse_probs == pytest.approx(cp.tolist(), abs=1e-7)
        assert labels.fine_probs == pytest.approx(fp.tolist(), abs=1e-7)
        assert sum(labels.coarse_probs) == pytest.approx(1.0) and sum(labels.fine_probs) == pytest.approx(1.0)
        order, fine_order = cp.argsort(descending=True).tolist(), fp.argsort(descending=True).tolist()
        assert (labels.r_org.index, labels.r_adv.index) == tuple(order[:2])
        assert (labels.f_org.index, labels.f_adv.index) == tuple(fine_order[:2])
        c2f = C2FLabels.of(hc, x)
        assert labels.indices() == (int(c2f.r_org), int(c2f.r_adv), int(c2f.f_org), int(c2f.f_adv))
        assert labels.coarse_names == h.coarse_names and labels.fine_names == members
        for c, probs, names in ((labels.r_org, cp, h.coarse_names), (labels.r_adv, cp, h.coarse_names),
                                (labels.f_org, fp, members), (labels.f_adv, fp, members)):
            assert c.name == names[c.index] and c.prob == pytest.approx(float(probs[c.index]), abs=1e-7)
        assert labels.target is None


def test_the_digits_get_their_own_class_names():
    hc = load("mnist_cnn", hierarchy="mnist_c2f", device="cpu").model
    for i, image in enumerate(load_digits(10)):  # the test split's first ten digits are 0 to 9, classified right
        labels = NamedLabels.of(hc, image.tensor)
        assert labels.f_org.name == str(i) and str(i) in hc.hierarchy.fine_names[labels.r_org.index]


def test_aiming_replaces_only_the_adversarial_class_of_the_level(mnist):
    hc, digits = mnist
    labels = NamedLabels.of(hc, digits[0])  # a 0: closed loops, four fine classes
    assert labels.aimed("coarse", None) is labels and labels.aimed("fine", None) is labels
    [other] = labels.other_targets("coarse")  # three coarse classes: one besides r_org and r_adv
    coarse = labels.aimed("coarse", other.index)
    assert coarse.r_adv == other == NamedClass(other.index, labels.coarse_names[other.index],
                                               labels.coarse_probs[other.index])
    assert coarse.target == other.index and coarse.pair("coarse") == (labels.r_org, other)
    assert (coarse.r_org, coarse.f_org, coarse.f_adv) == (labels.r_org, labels.f_org, labels.f_adv)
    assert coarse.indices() == (labels.r_org.index, other.index, labels.f_org.index, labels.f_adv.index)
    others = labels.other_targets("fine")
    assert len(others) == len(labels.fine_names) - 2 == 2
    assert [c.prob for c in others] == sorted((c.prob for c in others), reverse=True)  # most probable first
    assert {c.index for c in others} | {labels.f_org.index, labels.f_adv.index} == set(range(len(labels.fine_names)))
    fine = labels.aimed("fine", others[-1].index)
    assert fine.f_adv == others[-1] and fine.pair("fine") == (labels.f_org, others[-1])
    assert (fine.r_org, fine.r_adv, fine.f_org) == (labels.r_org, labels.r_adv, labels.f_org)


def test_level_classes_fine_top_and_the_dict(mnist):
    hc, digits = mnist
    labels = NamedLabels.of(hc, digits[0])
    assert [c.name for c in labels.classes("coarse")] == list(labels.coarse_names)
    assert [c.prob for c in labels.classes("fine")] == list(labels.fine_probs)
    top = labels.fine_top(3)
    assert len(top) == 3 and top[0] == labels.f_org and top[1] == labels.f_adv
    assert top[2].prob == max(c.prob for c in labels.classes("fine") if c not in (labels.f_org, labels.f_adv))
    assert len(labels.fine_top()) == len(labels.fine_names) == 4  # five at most, the members of r_org at least
    aimed = labels.aimed("coarse", labels.other_targets("coarse")[0].index)
    record = aimed.to_dict()
    assert list(record) == ["r_org", "r_adv", "f_org", "f_adv", "r_org_name", "r_adv_name", "f_org_name",
                            "f_adv_name", "r_org_prob", "r_adv_prob", "f_org_prob", "f_adv_prob", "target"]
    assert record["r_adv"] == aimed.target == record["target"] and record["r_adv_name"] == aimed.r_adv.name
    assert record["f_org_prob"] == labels.f_org.prob


def test_the_decision_is_the_models_with_names(mnist):
    hc, digits = mnist
    h = hc.hierarchy
    for x in digits:
        decision = NamedDecision.of(hc, x)
        d = hc.decide(x)
        r, j = int(d.coarse[0]), int(d.fine[0])
        assert decision.coarse == NamedClass(r, h.coarse_names[r], pytest.approx(float(d.coarse_prob[0])))
        assert decision.fine == NamedClass(j, h.fine_names[r][j], pytest.approx(float(d.fine_prob[0])))
        assert decision.fine.name == str(decision.fine_class)  # mnist_c2f names its fine classes by digit
        assert decision.coarse_probs == pytest.approx(d.coarse_probs[0].tolist())
        assert decision.coarse.prob == max(decision.coarse_probs)
        labels = NamedLabels.of(hc, x)  # before any attack, the decision is the labels' original classes
        assert (decision.coarse, decision.fine) == (labels.r_org, labels.f_org)
        assert decision.to_dict() == {"coarse": r, "coarse_name": decision.coarse.name,
                                      "coarse_prob": decision.coarse.prob, "coarse_probs": list(decision.coarse_probs),
                                      "fine": j, "fine_name": decision.fine.name, "fine_prob": decision.fine.prob,
                                      "fine_class": decision.fine_class}


def test_loss_terms_by_hand():
    org = torch.tensor([3.0, -4.0, 0.0]).reshape(1, 1, 1, 3)
    adv = torch.tensor([1.0, -1.0, 2.0]).reshape(1, 1, 1, 3)
    terms = LossTerms.of(org, adv, 2.0)
    assert terms.pos == pytest.approx((3.0, math.sqrt(5)))  # ||R+||_2 of each map
    assert terms.neg == pytest.approx((4.0, 1.0))
    assert terms.loss == pytest.approx((3 - math.sqrt(5)) - (4 - 1))
    assert LossTerms.of(org, adv, math.inf) == LossTerms((3.0, 2.0), (4.0, 1.0), pytest.approx(-2.0))


@pytest.mark.parametrize("level", ["coarse", "fine"])
def test_the_maps_and_their_loss_are_the_attacks(mnist, level):
    hc, digits = mnist
    rules = study.StudyConfig().lrp_rules()
    for x in digits[:3]:
        labels = NamedLabels.of(hc, x)
        (org_map, adv_map), terms = lrp_maps(hc, x, labels.indices(), level, rules, 2.0)
        org, adv = study.relevance_pair(hc, x, C2FLabels.of(hc, x), level, rules)
        assert org_map.shape == adv_map.shape == (28, 28)
        torch.testing.assert_close(torch.from_numpy(org_map), org[0].sum(0).cpu())
        torch.testing.assert_close(torch.from_numpy(adv_map), adv[0].sum(0).cpu())
        pair = torch.stack([org, adv])
        assert terms.loss == pytest.approx(float(lrp_loss(pair, 2.0)[0]), rel=1e-5)
        positive, negative = lrp_norms(pair, 2.0)
        assert terms.pos == pytest.approx(positive[:, 0].tolist())
        assert terms.neg == pytest.approx(negative[:, 0].tolist())


def _labels(r_org: int, f_org: int) -> NamedLabels:
    return NamedLabels(NamedClass(r_org, "a", 0.6), NamedClass(1 - r_org, "b", 0.4), NamedClass(f_org, "x", 0.7),
                       NamedClass(1 - f_org, "y", 0.3), ("a", "b"), (0.6, 0.4), ("x", "y"), (0.7, 0.3))


def _after(coarse: int, fine: int) -> NamedDecision:
    return NamedDecision(NamedClass(coarse, "c", 0.9), (0.9, 0.1), NamedClass(fine, "f", 0.8), -1)


def test_verdicts_by_hand():
    labels = _labels(0, 0)
    assert Verdict.of(labels, _after(0, 0), False) == Verdict(False, coarse_kept=True, fine_changed=False)
    assert Verdict.of(labels, _after(0, 1), True) == Verdict(True, coarse_kept=True, fine_changed=True)
    # a new coarse class: its fine index is a position among other members, so the fine class changed too
    assert Verdict.of(labels, _after(1, 0), True) == Verdict(True, coarse_kept=False, fine_changed=True)
    assert Verdict.of(labels, _after(1, 1), False) == Verdict(False, coarse_kept=False, fine_changed=True)


def _pair(seed: int, size: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return tuple(size * rng.standard_normal((6, 6)).astype(np.float32) for _ in range(2))


def test_grid_maps_each_row_on_its_own_scales_and_changes_are_after_minus_before():
    before, strong, weak = _pair(0, 1.0), _pair(1, 1000.0), _pair(2, 1e-3)
    rows = grid_maps(before, [("LRPC eps=10", strong), ("DFC", weak)], percentile=100.0)
    assert [row.name for row in rows] == [ORIGINAL, "LRPC eps=10", "DFC"]
    assert rows[0].changes is None and rows[0].change_scales is None
    for row, maps in zip(rows, (before, strong, weak)):
        assert row.maps == maps
        assert row.scale.limit == pytest.approx(max(np.abs(m).max() for m in maps))  # of this row alone
        assert row.scale.signed and row.scale.scope == "one scale for this row"
    for row in rows[1:]:
        np.testing.assert_array_equal(row.changes[0], row.maps[0] - before[0])
        np.testing.assert_array_equal(row.changes[1], row.maps[1] - before[1])
        for change, scale in zip(row.changes, row.change_scales):  # each change on its own scale
            assert scale.limit == pytest.approx(np.abs(change).max()) and scale.scope == "own scale"
    assert rows[2].scale.limit < 1e-2 < rows[0].scale.limit < rows[1].scale.limit  # the weak row is not drawn blank

    one = grid_maps(before, [("LRPC eps=10", strong), ("DFC", weak)], percentile=100.0, one_scale=True)
    assert len({row.scale for row in one}) == 1 and one[0].scale.scope == "one scale for all rows"
    assert one[0].scale.limit == pytest.approx(max(np.abs(m).max() for m in strong))
    assert len({scale for row in one[1:] for scale in row.change_scales}) == 1
    changes = [a - b for maps in (strong, weak) for a, b in zip(maps, before)]
    assert one[1].change_scales[0].limit == pytest.approx(max(np.abs(c).max() for c in changes))
    assert one[1].change_scales[0].scope == "one scale for all rows' changes"


def test_the_before_after_scale_covers_both_and_percentiles_saturate_extremes():
    before, after = _pair(3, 1.0), _pair(4, 5.0)
    scale = before_after_scale(before, after, 100.0)
    assert scale.limit == pytest.approx(max(np.abs(m).max() for m in (*before, *after)))
    assert before_after_scale(before, after).limit < scale.limit  # the default percentile, 99.5
    assert scale.scope == "one scale for before and after"


def _demo_labels() -> NamedLabels:
    return NamedLabels(NamedClass(4, "food", 0.995), NamedClass(7, "dog", 0.002), NamedClass(0, "espresso", 0.97),
                       NamedClass(1, "cup", 0.015), ("a",) * 8, (0.0,) * 8, ("espresso", "cup"), (0.97, 0.015))


def _decision(coarse: int, name: str, prob: float) -> NamedDecision:
    return NamedDecision(NamedClass(coarse, name, prob), (0.0,) * 8, NamedClass(0, "x", 0.5), -1)


def test_the_demo_steps_say_what_happened():
    labels = _demo_labels()
    rows = [DemoRow("LRPC eps=10", "lrp", True, _decision(7, "dog", 0.99), 6.0, (0.2, 1.9)),
            DemoRow("DFC", "deepfool", True, _decision(7, "dog", 0.26), 0.4, (0.3, 0.3)),
            DemoRow("PGDC", "pgd", False, _decision(4, "food", 0.6), 12.0, (0.4, 0.3))]
    steps = demo_steps(labels, (0.5, 0.22), rows)
    assert [s.rows for s in steps] == [(), (ORIGINAL,), ("LRPC eps=10",), ("DFC", "PGDC")]
    assert "decides food (99.5%)" in steps[0].look and "runner-up, dog (0.2%)" in steps[0].look
    assert steps[1].title == "Where its evidence for food lies"
    assert "at most 10/255" in steps[2].look and "went from food to dog (99%)" in steps[2].look
    assert "food fell from 0.5 to 0.2, for dog rose from 0.22 to 1.9" in steps[2].look
    assert "After DFC the decision went from food to dog (26%), with a perturbation 15× smaller than LRPC's" \
        in steps[3].look
    assert "after PGDC the decision stayed food (60%), with a perturbation 2× larger than LRPC's" in steps[3].look
    only_lrp = demo_steps(labels, (0.5, 0.22), rows[:1])  # a step whose attacks did not run is left out
    assert [s.title for s in only_lrp][-1] == "What LRPC changed" and len(only_lrp) == 3
