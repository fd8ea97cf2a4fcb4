"""One digit as the Attributes page shows it: eq. 7 against the wrong class, eq. 8 against the true one, the
runner-up class where the attack fails, grounding on both sides."""
import torch

from core.attributes.matrix import load_digit_attributes
from core.attributes.sje import discriminative
from core.data import digit_label, load_digit
from core.models import load
from core.studies.attributes import StudyConfig, Subject, digit_data, fitted_sje
from core.studies.attributes_view import inspect


def test_the_view_of_one_digit():
    loaded = load("mnist_cnn", device="cpu")
    sje = fitted_sje(Subject("view", loaded.model, loaded.info.model_id), digit_data(1), StudyConfig(sje_epochs=20),
                     None)
    x, label = load_digit(3).tensor, digit_label(3)
    standardise = load_digit_attributes()[1]
    strong = inspect(loaded.model, sje, x, label, 0.3, top=2, standardise=standardise, method="saliency")
    assert strong.fooled and strong.wrong == strong.adversarial.general != label
    assert strong.clean.reference == strong.wrong and strong.adversarial.reference == label
    expected, _ = discriminative(strong.clean.attributes[None], sje.phi[strong.wrong][None], 2)
    assert strong.clean.indices == tuple(expected[0].tolist())
    assert float((strong.adversarial.x - x).abs().max()) <= 0.3 + 1e-6
    assert strong.clean.grounding.masks.shape == (1, 2, 28, 28)
    weak = inspect(loaded.model, sje, x, label, 1e-4, top=2, standardise=standardise, method="saliency")
    with torch.no_grad():
        runner_up = int(loaded.model(x).argsort(1, descending=True)[0, 1])
    assert not weak.fooled and weak.wrong == runner_up
