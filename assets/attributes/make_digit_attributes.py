"""Makes the digit class-attribute matrices of assets/attributes/ (run from the repository root):

    python assets/attributes/make_digit_attributes.py

Every training digit (core.data.mnist_split("train"), 400 per class) is measured by
core.attributes.morphometry.measure at its default settings; the values are standardised with the training
split's mean and standard deviation (mnist_standardisation.json); phi(y), the mean standardised values of
class y, is mnist_continuous.csv, its median split over the classes mnist_binary.csv; ATTRIBUTES.md defines
every attribute in a sentence.
"""
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent
sys.path.insert(0, str(OUT.parents[1]))

from core.attributes import matrix, morphometry  # noqa: E402
from core.data import mnist_split  # noqa: E402


def card(settings: morphometry.MorphoSettings) -> str:
    lines = ["# The digit attributes", "",
             "Measured on each digit by `core.attributes.morphometry` (after Morpho-MNIST, Castro et al., JMLR "
             "2019), with " + ", ".join(f"{k} = {v}" for k, v in vars(settings).items()) + ". Values are "
             "standardised with the training split's mean and standard deviation (`mnist_standardisation.json`); "
             "`mnist_continuous.csv` holds each class's mean, `mnist_binary.csv` 1 where that mean is above the "
             "median of the ten class means. Made by `python assets/attributes/make_digit_attributes.py`.", "",
             "| attribute | unit | what it is | location mask |", "|---|---|---|---|"]
    lines += [f"| {a.label} (`{a.key}`) | {a.unit} | {a.definition} | {a.mask} |" for a in morphometry.ATTRIBUTES]
    return "\n".join(lines) + "\n"


def main() -> None:
    images, labels = mnist_split("train")
    settings = morphometry.MorphoSettings()
    values = morphometry.measure(images, settings).values
    classes = tuple(str(d) for d in range(10))
    phi, standardise = matrix.from_measurements(values, labels, classes, morphometry.NAMES)
    (OUT / "mnist_continuous.csv").write_text(matrix.to_csv(classes, phi.names, phi.continuous))
    (OUT / "mnist_binary.csv").write_text(matrix.to_csv(classes, phi.names, phi.binary))
    stats = {"names": list(phi.names), **standardise.to_dict(), "settings": vars(settings),
             "data": "core.data.mnist_split('train'): 4,000 digits, 400 per class"}
    (OUT / "mnist_standardisation.json").write_text(json.dumps(stats, indent=2) + "\n")
    (OUT / "ATTRIBUTES.md").write_text(card(settings))


if __name__ == "__main__":
    main()
