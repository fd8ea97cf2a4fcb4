"""SJE (eq. 3-5), the attribute classifier, eq. 7 / 8, d1 / d2 (eq. 12-15) and R (eq. 9-11) against
hand-computed values; SJE's loss falls and its classifier beats chance by far; theta is the last layer's input."""
import pytest
import torch
from torch import nn

from core.attributes import figures, sje
from core.attributes.features import batched_features, features
from core.errors import InputError
from core.models.wrapper import ImageClassifier


def test_ranking_loss_by_hand():
    scores = torch.tensor([[1.0, 2.0, 0.0], [3.0, 0.5, 2.8]])
    labels = torch.tensor([0, 0])
    # image 0: hinges 1 + 2 - 1 = 2 and 1 + 0 - 1 = 0; image 1: 1 + 0.5 - 3 < 0 and 1 + 2.8 - 3 = 0.8
    assert torch.allclose(sje.ranking_loss(scores, labels), torch.tensor([2.0, 0.8]))
    assert torch.allclose(sje.ranking_loss(scores, labels, reduction="sum"), torch.tensor([2.0, 0.8]))
    assert torch.allclose(sje.ranking_loss(scores, torch.tensor([1, 2]), margin=0.5), torch.tensor([0.0, 0.7]))


def synthetic(n_per_class=60, seed=0):
    """Four classes with 6 attributes each; features a fixed mixing of the class's attributes plus noise."""
    g = torch.Generator().manual_seed(seed)
    phi = torch.randn(4, 6, generator=g)
    labels = torch.arange(4).repeat_interleave(n_per_class)
    mixing = torch.randn(6, 16, generator=g)
    theta = phi[labels] @ mixing + 0.5 * torch.randn(len(labels), 16, generator=g) + 3.0
    return theta, labels, phi


def test_sje_loss_falls_and_its_classifier_beats_chance_by_far():
    theta, labels, phi = synthetic()
    model = sje.fit_sje(theta, labels, phi, sje.SJEConfig(epochs=30, batch_size=40))
    assert model.losses[-1] < 0.2 * model.losses[0]
    test_theta, test_labels, _ = synthetic(seed=0)  # same classes and mixing, fresh noise below
    test_theta = test_theta + 0.3 * torch.randn(test_theta.shape, generator=torch.Generator().manual_seed(9))
    for rule in sje.RULES:
        assert (model.classify(test_theta, rule) == test_labels).float().mean() > 0.9  # chance: 0.25
    # eq. 5 and eq. 3 as written, with the stored standardisation
    z = (test_theta - model.mean) / model.scale
    torch.testing.assert_close(model.attributes(test_theta), z @ model.W)
    torch.testing.assert_close(model.compatibility(test_theta), z @ model.W @ phi.T)


def test_fit_is_seeded_and_refuses_bad_input():
    theta, labels, phi = synthetic(10)
    config = sje.SJEConfig(epochs=3)
    assert torch.equal(sje.fit_sje(theta, labels, phi, config).W, sje.fit_sje(theta, labels, phi, config).W)
    with pytest.raises(InputError, match="labels"):
        sje.fit_sje(theta, labels + 4, phi, config)
    with pytest.raises(InputError, match="NaN"):
        sje.fit_sje(theta * float("nan"), labels, phi, config)
    with pytest.raises(InputError):
        sje.SJEConfig(reduction="mean")


def test_nearest_class_attribute_vector_by_hand():
    phi = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    a = torch.tensor([[0.9, 0.1], [1.2, 0.0], [0.4, 2.0], [10.0, 10.0]])
    assert sje.classify(a, phi).tolist() == [0, 1, 2, 2]  # the last: squared distances 200, 164, 149
    assert sje.classify(a, phi, "compatibility").tolist() == [1, 1, 2, 2]


def test_discriminative_attributes_eq7_eq8_by_hand():
    a = torch.tensor([[1.0, 5.0, -2.0, 0.5, 3.0]])
    wrong = torch.tensor([[0.0, 1.0, 0.0, 2.0, 0.0]])  # differences 1, 4, -2, -1.5, 3
    indices, diffs = sje.discriminative(a, wrong, top=2)
    assert indices.tolist() == [[1, 4]] and diffs.tolist() == [[4.0, 3.0]]
    assert sje.discriminative(a, wrong, top=0.2)[0].tolist() == [[1]]  # 20 % of 5
    assert sje.discriminative(a, wrong, top=3, absolute=True)[0].tolist() == [[1, 4, 2]]
    assert sje.selection_mask(indices, 5).tolist() == [[False, True, False, False, True]]
    assert sje.selection_size(11, 0.2) == 3 and sje.selection_size(11, 20) == 11


def test_d1_d2_and_robust_ratio_by_hand():
    a, b = torch.tensor([[0.0, 3.0, 1.0]]), torch.tensor([[4.0, 0.0, 1.0]])
    assert figures.d1(a, b).tolist() == [5.0]
    assert figures.d1(a, b, torch.tensor([[False, True, True]])).tolist() == [3.0]
    phi = torch.tensor([[1.0, 1.0, 1.0], [1.0, 4.0, 5.0]])
    assert figures.d2(phi, torch.tensor([0, 1]), torch.tensor([1, 1])).tolist() == [5.0, 0.0]
    clean = torch.tensor([1, 1, 1, 1, 0], dtype=torch.bool)  # 80 %
    standard_adv = torch.tensor([0, 0, 1, 0, 0], dtype=torch.bool)  # 20 %: L_S = 0.6
    robust_adv = torch.tensor([1, 0, 1, 1, 0], dtype=torch.bool)  # 60 %: L_R = 0.2
    assert figures.robust_ratio(clean, standard_adv, robust_adv) == pytest.approx(0.2 / 0.6)
    assert figures.robust_ratio(clean, clean, robust_adv) is None


def test_theta_is_the_input_of_the_last_linear_layer():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 36, 5), nn.ReLU(),
                        nn.Linear(5, 3))
    model = ImageClassifier(net, (0.5,), (0.25,)).eval()
    x = torch.rand(4, 1, 6, 6)
    theta, logits = features(model, x)
    expected = net[:5]((x - 0.5) / 0.25)
    torch.testing.assert_close(theta, expected)
    torch.testing.assert_close(logits, model(x))
    assert not theta.requires_grad and features(model, x, grad=True)[0].requires_grad
    torch.testing.assert_close(batched_features(model, x, batch_size=3)[0], theta)
