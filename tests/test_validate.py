"""The shared argument checks (``core.validate``): inputs of any rank, counts, numbers, labels; and the
LRP rule settings as one record."""
import pytest
import torch

from core.cache import cache_key
from core.errors import InputError
from core.explain.lrp import LRPRules
from core.validate import check_count, check_images, check_inputs, check_labels, check_number


def test_inputs_of_any_rank_within_per_feature_ranges():
    low, high = torch.tensor([0.0, -5.0, 10.0]), torch.tensor([1.0, 5.0, 20.0])
    rows = torch.tensor([[0.5, -5.0, 20.0], [0.0, 4.9, 10.0]])
    check_inputs(rows, low, high)  # inside, edges included
    with pytest.raises(InputError, match="Value values must lie in their ranges"):
        check_inputs(rows + torch.tensor([0.0, 0.0, 0.5]), low, high)  # 20.5 above feature 2's 20
    check_inputs(torch.tensor([[-1e6, 3e6]]), None, None)  # unbounded: any finite value
    for bad in (float("nan"), float("inf")):
        with pytest.raises(InputError, match="NaN or infinite"):
            check_inputs(torch.tensor([[0.5, bad]]), None, None)
        with pytest.raises(InputError, match="NaN or infinite"):
            check_inputs(torch.tensor([[0.5, bad, 11.0]]), low, high)
    with pytest.raises(InputError, match="shaped"):
        check_inputs(torch.tensor(0.5))  # a batch has a first dimension
    with pytest.raises(InputError, match=r"must lie in \[0, 1\]"):
        check_inputs(torch.full((2, 5), 1.5))


def test_images_are_inputs_of_rank_4_in_0_1():
    check_images(torch.rand(2, 3, 4, 4))
    with pytest.raises(InputError, match=r"\(N, C, H, W\)"):
        check_images(torch.rand(2, 48))
    with pytest.raises(InputError, match=r"Pixel values must lie in \[0, 1\] \(models normalise internally\)"):
        check_images(torch.rand(1, 3, 4, 4) + 1)


@pytest.mark.parametrize("value", [1.5, True, "3", None, -1])
def test_counts_are_whole_numbers(value):
    with pytest.raises(InputError, match=f"steps must be a whole number of at least 0, got {value!r}"):
        check_count("steps", value)


def test_numbers_take_0d_tensors_and_refuse_strings_booleans_and_nan():
    assert check_number("eps", torch.tensor(0.25), "in [0, 1]", lambda v: 0 <= v <= 1) == 0.25
    for value in ("0.1", True, torch.tensor([0.1, 0.2])):
        with pytest.raises(InputError, match="must be a number in"):
            check_number("eps", value, "in [0, 1]", lambda v: 0 <= v <= 1)
    with pytest.raises(InputError, match="eps must be in \\[0, 1\\], got nan"):
        check_number("eps", float("nan"), "in [0, 1]", lambda v: 0 <= v <= 1)


def test_labels_are_one_class_index_per_input():
    assert check_labels("labels", [2, 0], 2, 3).dtype == torch.long  # a list will do
    with pytest.raises(InputError, match="class indices"):
        check_labels("labels", torch.tensor([True, False]), 2, 3)
    with pytest.raises(InputError, match=r"input 0 has 3"):
        check_labels("labels", torch.tensor([3, 0]), 2, 3)


def test_lrp_rules_are_one_checked_record_that_keys_caches_by_content():
    rules = LRPRules()
    assert rules.params() == {"composite": "zplus_zbox", "init": "logit", "signed_inputs": "split",
                              "ignore_bias": None}
    for bad in ({"composite": "zplus"}, {"init": "one"}, {"signed_inputs": "literal"}, {"ignore_bias": "yes"}):
        with pytest.raises(InputError):
            LRPRules(**bad)
    assert cache_key(rules=rules) == cache_key(rules=LRPRules())
    assert cache_key(rules=rules) != cache_key(rules=LRPRules(init="onehot"))
    assert cache_key(rules=rules) != cache_key(rules=rules.params())  # a record is not its dict
