"""Success criteria as objects (``core.attacks.goals``), and the attacks' refusal of bad arguments:
one check per kind of argument (labels, counts, budgets), the same message in every attack."""
import pytest
import torch
from torch import nn

from c2f_toy import toy_c2f, toy_images
from core.attacks.budget import LinfBall
from core.attacks.c2f import C2FLabels
from core.attacks.deepfool import deepfool, deepfool_c2f
from core.attacks.goals import FineChanged, Misclassified, Targeted, runner_up
from core.attacks.loop import StepOutcome, projected_ascent
from core.attacks.lrp_c2f import lrpc, lrpf
from core.attacks.pgd import pgd, pgd_c2f
from core.errors import InputError


def test_goals_judge_hand_made_logits():
    rows = torch.tensor([0, 2])
    logits = torch.tensor([[0.1, 2.0, 0.3], [3.0, 0.0, 1.0]])  # decisions 1 and 0, for images 0 and 2
    y = torch.tensor([1, 9, 2])
    assert Misclassified(y)(rows, logits).tolist() == [False, True]
    assert Targeted(torch.tensor([1, 9, 0]))(rows, logits).tolist() == [True, True]
    coarse = torch.tensor([[0.0, 1.0], [2.0, 1.0]])  # coarse decisions 1 and 0
    fine = torch.tensor([[5.0, 1.0], [0.0, 1.0]])  # fine decisions 0 and 1
    r_org, f_org = torch.tensor([1, 0, 1]), torch.tensor([0, 0, 0])
    assert Misclassified(r_org)(rows, coarse, fine).tolist() == [False, True]  # the coarse goal
    # image 0 keeps its coarse class and its fine class; image 2 changes the coarse class: neither counts
    assert FineChanged(r_org, f_org)(rows, coarse, fine).tolist() == [False, False]
    assert FineChanged(r_org, torch.tensor([1, 0, 0]))(rows, coarse, fine).tolist() == [True, False]


def test_runner_up_is_the_best_other_class_or_none():
    logits = torch.tensor([[1.0, 3.0, 2.0], [0.0, float("-inf"), float("-inf")]])
    assert runner_up(logits, logits.argmax(1)).tolist() == [2, 0]  # no other finite class: the top itself


def test_every_c2f_attack_judges_success_by_its_levels_goal():
    hc, x = toy_c2f(), toy_images(8)
    labels = C2FLabels.of(hc, x)
    for level, attacks in (("coarse", (lrpc, lambda h, z: deepfool_c2f(h, z), lambda h, z: pgd_c2f(h, z))),
                           ("fine", (lrpf, lambda h, z: deepfool_c2f(h, z, level="fine"),
                                     lambda h, z: pgd_c2f(h, z, level="fine")))):
        for attack in attacks:
            result = attack(hc, x) if attack not in (lrpc, lrpf) else attack(hc, x, eps=16 / 255, steps=5)
            with torch.no_grad():
                judged = labels.goal(level)(torch.arange(8), *hc.logits(result.x_adv, labels.r_org))
            assert result.success.tolist() == judged.tolist()


class _Linear:
    """An objective on flat feature vectors (N, D): gain ``w . x`` (maximised), goal ``w . x > 1``."""

    def __init__(self, w):
        self.w = w

    def step(self, x_adv, rows):
        gain = x_adv @ self.w
        return StepOutcome(gain, gain > 1, self.w.expand_as(x_adv).clone())

    def success(self, x_adv, rows):
        gain = x_adv @ self.w
        return gain > 1, (gain,)


def test_the_projected_loop_takes_inputs_of_any_rank():
    w = torch.tensor([1.0, -2.0, 0.5])
    x = torch.tensor([[0.2, 0.5, 0.1], [0.9, 0.0, 0.9], [0.5, 0.5, 0.5]])
    out = projected_ascent(x, _Linear(w), projection=LinfBall(0.1), alpha=0.04, steps=5, early_stop=False)
    assert out.x_adv.shape == x.shape
    torch.testing.assert_close(out.x_adv, (x + 0.1 * w.sign()).clamp(0, 1))  # every step along sign(w), to the edge
    assert out.success.tolist() == [False, True, False]  # w.x' = -0.4, 1.35, -0.1


def _flat_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 5)).eval()


@pytest.mark.parametrize("attack", [pgd, deepfool])
@pytest.mark.parametrize("labels, message", [
    (torch.tensor([0, 1, 2]), r"one of the labels y per input: 4 inputs, got shape \(3,\)"),
    (torch.tensor([0, 1, 2, 5]), r"must lie in 0..4 \(the model has 5 classes\); input 3 has 5"),
    (torch.tensor([0, -1, 2, 3]), "input 1 has -1"),
    (torch.tensor([0.0, 1.0, 2.0, 3.0]), "class indices"),
])
def test_labels_of_the_wrong_length_or_range_are_refused_with_a_message(attack, labels, message):
    model, x = _flat_model(), toy_images(4)
    with pytest.raises(InputError, match=message):
        attack(model, x, labels)


def test_a_target_out_of_range_is_refused_like_the_labels():
    model, x = _flat_model(), toy_images(2)
    with pytest.raises(InputError, match="targets must lie in 0..4"):
        pgd(model, x, torch.tensor([0, 1]), target=torch.tensor([7, 1]))


@pytest.mark.parametrize("call", [
    lambda hc, x: deepfool_c2f(hc, x, steps=1.5), lambda hc, x: lrpc(hc, x, steps=1.5),
    lambda hc, x: pgd_c2f(hc, x, steps=2.0), lambda hc, x: deepfool_c2f(hc, x, candidates=True),
])
def test_a_step_count_that_is_no_whole_number_is_refused(call):
    with pytest.raises(InputError, match="must be a whole number of at least"):
        call(toy_c2f(), toy_images(2))


@pytest.mark.parametrize("call", [lambda hc, x: lrpc(hc, x, eps="10"), lambda hc, x: pgd_c2f(hc, x, eps="10"),
                                  lambda hc, x: pgd_c2f(hc, x, alpha="0.1"),
                                  lambda hc, x: deepfool_c2f(hc, x, overshoot="0.02")])
def test_a_budget_or_step_given_as_a_string_is_refused(call):
    with pytest.raises(InputError, match=r"must be a number .*got '.*' \(a str\)"):
        call(toy_c2f(), toy_images(2))
