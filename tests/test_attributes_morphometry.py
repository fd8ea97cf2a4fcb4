"""Measured digit attributes on hand-drawn digits with known values, their location masks, and the
class-attribute matrices (hand-computed means, median split, CSV checks, the shipped assets)."""
import math

import pytest
import torch

from core.attributes import matrix
from core.attributes.morphometry import INDEX, measure
from core.errors import InputError

YY, XX = torch.meshgrid(torch.arange(28) + 0.5, torch.arange(28) + 0.5, indexing="ij")


def ring(r_out=8.0, r_in=5.0, cy=14.0, cx=14.0):
    d = ((YY - cy) ** 2 + (XX - cx) ** 2).sqrt()
    return (d <= r_out) & (d >= r_in)


def bar(width=4, shear_deg=0.0, top=4, bottom=24):
    """A vertical bar ``width`` cells wide (rows top..bottom-1), sheared so that its top leans right."""
    centre = 14 + math.tan(math.radians(shear_deg)) * (14 - YY)
    return ((XX - centre).abs() < width / 2) & (YY > top) & (YY < bottom)


def digits(*masks):
    return torch.stack([m.float() for m in masks])[:, None]


def value(measured, row, name):
    return float(measured.values[row, INDEX[name]])


@pytest.fixture(scope="module")
def shapes():
    plus = bar(4, top=4, bottom=24) | bar(4, top=4, bottom=24).T
    eight = ring(5.5, 2.5, cy=8.5) | ring(5.5, 2.5, cy=19.5)
    nine = ring(5.5, 2.5, cy=9) | ((XX > 16.5) & (XX < 19.5) & (YY > 9) & (YY < 26))
    images = digits(ring(), bar(2), bar(4), bar(6), bar(4, 20), bar(4, -15), plus, eight, nine)
    return images, measure(images)


def test_a_ring_has_one_hole_whose_mask_is_the_hole(shapes):
    images, m = shapes
    assert value(m, 0, "holes") == 1 and value(m, 0, "endpoints") == 0 and value(m, 0, "junctions") == 0
    hole = m.masks[0, INDEX["holes"]]
    d = ((YY - 14) ** 2 + (XX - 14) ** 2).sqrt()
    assert hole[d < 4.3].all() and not hole[d > 5.8].any()  # the hole's cells, and at most its rim beside them
    assert not hole[images[0, 0] > 0].all()  # not the ring
    assert value(m, 0, "upper_hole") == pytest.approx(value(m, 0, "lower_hole"), rel=0.05)  # centred
    assert value(m, 0, "length") == pytest.approx(2 * math.pi * 6.5, rel=0.1)  # the centre line's length
    assert value(m, 0, "area") == pytest.approx(float(images[0].sum()), rel=0.05)


def test_a_straight_bar_has_two_ends_no_junction_no_hole_and_its_drawn_size(shapes):
    images, m = shapes
    for row, width in ((1, 2), (2, 4), (3, 6)):
        assert value(m, row, "endpoints") == 2 and value(m, row, "junctions") == 0 and value(m, row, "holes") == 0
        assert value(m, row, "thickness") == pytest.approx(width, abs=0.5)
        assert value(m, row, "width") == pytest.approx(width, abs=0.7)
        assert value(m, row, "height") == pytest.approx(20, abs=1)
        assert value(m, row, "slant") == pytest.approx(0, abs=0.5)
        assert value(m, row, "area") == pytest.approx(float(images[row].sum()), rel=0.08)
    thickness = [value(m, row, "thickness") for row in (1, 2, 3)]
    assert thickness[0] < thickness[1] < thickness[2]  # a dilated stroke is thicker


def test_the_slant_of_a_sheared_bar_is_its_shear_angle(shapes):
    _, m = shapes
    assert value(m, 4, "slant") == pytest.approx(20, abs=1.5)
    assert value(m, 5, "slant") == pytest.approx(-15, abs=1.5)
    assert value(m, 4, "width") == pytest.approx(4, abs=1.0)  # along the slant: the bar's width, not 20 tan 20°


def test_a_cross_has_four_ends_and_one_junction_where_they_should_be(shapes):
    _, m = shapes
    assert value(m, 6, "endpoints") == 4 and value(m, 6, "junctions") == 1
    junction = m.masks[6, INDEX["junctions"]]
    assert junction[14, 14] and not junction[:8].any() and not junction[:, :8].any()
    ends = m.masks[6, INDEX["endpoints"]]
    assert ends[4:9, 12:16].any() and ends[19:24, 12:16].any() and ends[12:16, 4:9].any() and ends[12:16, 19:24].any()
    assert not ends[10:18, 10:18].any()


def test_holes_above_and_below(shapes):
    _, m = shapes
    assert value(m, 7, "holes") == 2 and value(m, 7, "upper_hole") > 5 and value(m, 7, "lower_hole") > 5
    assert value(m, 8, "holes") == 1 and value(m, 8, "upper_hole") > 5 and value(m, 8, "lower_hole") == 0


def test_masks_lie_where_they_should(shapes):
    images, m = shapes
    ink = images[:, 0] > 0
    skeleton = m.masks[:, INDEX["length"]]
    assert (skeleton <= ink).all() and skeleton.flatten(1).any(1).all()
    digit = m.masks[:, INDEX["area"]]
    near = torch.nn.functional.max_pool2d(ink[:, None].float(), 3, 1, 1)[:, 0].bool()
    assert (ink <= digit).all() and (digit <= near).all()  # the ink, and at most its rim
    box = m.masks[2, INDEX["slant"]]
    assert box[6:22, 12:16].all() and not box[:, :10].any() and not box[:, 18:].any()


def test_a_batch_measures_as_its_images_one_by_one_and_inputs_are_untouched(shapes):
    images, m = shapes
    before = images.clone()
    alone = [measure(images[i:i + 1]) for i in (0, 6, 8)]
    again = measure(images, chunk=2)
    assert torch.equal(images, before)
    for i, single in zip((0, 6, 8), alone):
        torch.testing.assert_close(single.values[0], m.values[i], rtol=1e-5, atol=1e-4)
        assert torch.equal(single.masks[0], m.masks[i])
    torch.testing.assert_close(again.values, m.values, rtol=1e-5, atol=1e-4)


def test_bad_images_are_refused():
    with pytest.raises(InputError, match="blank"):
        measure(torch.zeros(2, 1, 28, 28))
    with pytest.raises(InputError, match="grayscale"):
        measure(torch.rand(1, 3, 28, 28))
    with pytest.raises(InputError):
        measure(torch.full((1, 1, 28, 28), float("nan")))


def test_class_means_and_median_split_by_hand():
    values = torch.tensor([[1.0, 4.0], [3.0, 0.0], [5.0, 2.0], [7.0, 2.0]])
    phi = matrix.class_means(values, torch.tensor([0, 0, 1, 2]), 3)
    assert torch.equal(phi, torch.tensor([[2.0, 2.0], [5.0, 2.0], [7.0, 2.0]]))
    assert torch.equal(matrix.median_split(phi), torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]]))
    with pytest.raises(InputError, match="no image"):
        matrix.class_means(values, torch.tensor([0, 0, 1, 1]), 3)


@pytest.mark.parametrize("text, message", [
    ("class,a,b\ncat,1,2\n", "no row for class"),
    ("class,a,b\ncat,1,2\ndog,nan,2\n", "finite"),
    ("class,a,b\ncat,1,2\ndog,1\n", "1 values where the header names 2"),
    ("class,a,b\ncat,1,2\ndog,1,x\n", "not a number"),
    ("class,a,b\ncat,1,2\ncat,1,2\n", "twice"),
])
def test_a_bad_class_attribute_csv_gets_a_clear_message(text, message):
    with pytest.raises(InputError, match=message):
        matrix.read_csv(text, classes=("cat", "dog", "cow") if "no row" in message else None)


def test_csv_round_trip():
    phi = torch.tensor([[0.5, -1.25], [2.0, 3.0]])
    classes, names, back = matrix.read_csv(matrix.to_csv(("b", "a"), ("x", "y"), phi), classes=("a", "b"))
    assert classes == ("a", "b") and names == ("x", "y") and torch.equal(back, phi.flip(0))


def test_the_shipped_digit_matrices_say_what_digits_are():
    phi, standardise = matrix.load_digit_attributes()
    assert phi.classes == tuple("0123456789") and phi.names == tuple(INDEX)
    holes, width = phi.continuous[:, INDEX["holes"]], phi.continuous[:, INDEX["width"]]
    assert int(holes.argmax()) == 8 and int(width.argmin()) == 1  # an 8 has two loops, a 1 is narrow
    assert phi.continuous[9, INDEX["upper_hole"]] > phi.continuous[9, INDEX["lower_hole"]]  # a 9's loop is on top
    assert phi.continuous[6, INDEX["lower_hole"]] > phi.continuous[6, INDEX["upper_hole"]]
    assert torch.equal(phi.binary, matrix.median_split(phi.continuous))
    assert phi.continuous.mean(0).abs().max() < 0.05  # standardised over a balanced training split
    assert (standardise.std > 0).all()
