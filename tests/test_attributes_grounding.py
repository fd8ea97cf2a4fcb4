"""Grounding (section 3.2 with measured attributes): the attribute head equals eq. 5, an attribute is grounded
where the image carries it, the inside share by hand, attribution alone without measurements."""
import torch
from torch import nn

from core.attributes import grounding
from core.attributes.features import features
from core.attributes.matrix import Standardiser
from core.attributes.morphometry import INDEX, measure
from core.attributes.sje import SJE
from core.models.wrapper import ImageClassifier
from tests.test_attributes_morphometry import bar, digits, ring


def toy():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(), nn.Linear(98, 6),
                        nn.ReLU(), nn.Linear(6, 10))
    return ImageClassifier(net, (0.1,), (0.3,)).eval()


def holes_sje():
    """theta >= 0 (after a ReLU) and mean -1: A_holes = sum(theta + 1) / 2 > 0 on every image."""
    k = len(INDEX)
    W = torch.zeros(6, k)
    W[:, INDEX["holes"]] = 1.0
    phi = torch.zeros(3, k)
    return SJE(W, -torch.ones(6), 2.0, phi)


def test_the_attribute_head_gives_eq5():
    model, sje = toy(), holes_sje()
    x = torch.rand(3, 1, 28, 28)
    theta, _ = features(model, x)
    torch.testing.assert_close(grounding.attribute_model(model, sje)(x), sje.attributes(theta))
    assert torch.equal(model(x), toy()(x))  # the classifier itself is untouched


def test_a_predicted_hole_is_grounded_on_a_ring_and_not_on_a_bar():
    model, sje = toy(), holes_sje()
    x = digits(ring(), bar(4))
    measured = measure(x)
    standardised = Standardiser(torch.full((len(INDEX),), 0.5), torch.ones(len(INDEX)))(measured.values)
    indices = torch.tensor([[INDEX["holes"]], [INDEX["holes"]]])
    g = grounding.ground(model, sje, x, indices, measured=measured, standardised=standardised,
                         method="saliency")
    assert (g.predicted > 0).all()
    assert g.present.tolist() == [[True], [False]] and g.grounded.tolist() == [[True], [False]]
    assert torch.equal(g.masks[0, 0], measured.masks[0, INDEX["holes"]])
    assert g.relevance.shape == (2, 1, 28, 28)
    assert torch.allclose(g.inside_share, grounding.inside_share(g.relevance, g.masks))
    plain = grounding.ground(model, sje, x, indices, method="saliency")
    assert plain.masks is None and plain.grounded is None and "attribution only" in plain.label
    torch.testing.assert_close(plain.relevance, g.relevance)


def test_inside_share_and_agreement_by_hand():
    maps = torch.tensor([[[1.0, -2.0], [3.0, 0.0]]])
    mask = torch.tensor([[[True, True], [False, False]]])
    assert grounding.inside_share(maps, mask).tolist() == [0.25]
    assert grounding.inside_share(-maps.abs(), mask).tolist() == [0.0]
    assert grounding.agrees(torch.tensor([1.0, 1.0, -1.0]), torch.tensor([2.0, -1.0, 0.0]),
                            torch.tensor(0.0)).tolist() == [True, False, False]
