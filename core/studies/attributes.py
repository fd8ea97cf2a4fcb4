"""The attributes study (Gulshad et al., "Understanding Misclassifications by Attributes"): I-FGSM (eq. 1) on
a standard and an adversarially trained classifier (eq. 2), SJE attributes predicted from each one's features
(eq. 3-5), both classifiers' accuracy against eps (Figure 4), the attribute distances d1 / d2 of the images
an attack turns (eq. 12-15, Figures 5 and 7) and the robust ratio R (eq. 9-11, Figure 9).

Data: the digits (the training split fits SJE, the first ``n`` test digits are attacked; phi the measured
attributes of ``assets/attributes``) or a user's ``AttributeDataset`` (its seeded split). Each model is
attacked with its own gradients (white box), with the true labels (eq. 1's L(x, y_n)); attacks run through
the shared runner's chunks and cache, SJE's W is cached per model, data and settings.

Our choices where the paper is terse, each a setting: the wrong class y is the general classifier's
prediction on the adversarial image; the attributes compared by d1 / d2 are the union of the top ``top``
of eq. 7 (clean image against phi(y)) and of eq. 8 (adversarial image against phi(y_n)); for Figure 7 the
robust model's adversarial image is its own attack's, and the images are those the standard model gets
wrong and the robust one right at that eps. Beside the paper's figures, the share of images whose attributes
moved toward the wrong class (Figure 5) or stay nearer the true one (Figure 7), on the selected attributes
and on all of them (the selection of eq. 8 favours attributes far from the true class).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from core.attacks.ifgsm import ifgsm
from core.attributes import figures
from core.attributes.features import batched_features, fit_head, with_head
from core.attributes.grounding import carried
from core.attributes.matrix import ClassAttributes, Standardiser
from core.attributes.morphometry import measure
from core.attributes.sje import RULES, SJE, SJEConfig, discriminative, fit_sje, selection_mask
from core.cache import ResultCache, cache_key
from core.data.images import pixel_digest
from core.errors import InputError
from core.studies.runner import Chunk, chunk_label, run_chunks, sub_progress
from core.studies.settings import setting
from core.studies.table import PaperTable, Row, render
from core.validate import check_choice, check_count, check_number

Progress = Callable[[float, str], None]
STUDY = "attributes"
EPS = (0.01, 0.06, 0.12)


@dataclass(frozen=True)
class StudyConfig:
    """Everything that decides the study's numbers; each setting's help is attributes-eval's flag help."""

    eps: tuple[float, ...] = setting(EPS, "I-FGSM budgets on the [0, 1] pixel scale (the paper's 0.01 0.06 0.12)")
    n: int = setting(200, "test images attacked (digits: the first n of the test split, the ten digits in turn)")
    top: float = setting(0.2, "fraction of the most discriminative attributes (eq. 7 / 8) that d1 / d2 compare "
                              "(the paper's 20 %)")
    matrix: str = setting("continuous", "class-attribute matrix phi: continuous or its binary median split",
                          choices=("continuous", "binary"))
    rule: str = setting("nearest", "attribute-based classifier: nearest class attribute vector (the paper) or the "
                                   "compatibility argmax", choices=RULES)
    sje_epochs: int = setting(60, "SJE training epochs on the training split's features")
    grounding_top: int = setting(3, "attributes per image (eq. 7 / 8) whose grounding the study counts (digits)")
    batch_size: int = setting(50, "images per attack chunk (each chunk cached)")

    def __post_init__(self):
        if not self.eps:
            raise InputError("Give at least one eps.")
        for e in self.eps:
            check_number("Each eps", e, "in (0, 1]", lambda v: 0 < v <= 1)
        check_count("The number of images", self.n, 1)
        check_number("The fraction of attributes", self.top, "in (0, 1]", lambda v: 0 < v <= 1)
        check_choice("matrix", self.matrix, ("continuous", "binary"))
        check_choice("rule", self.rule, RULES)
        check_count("SJE epochs", self.sje_epochs, 1)
        check_count("Attributes counted for grounding", self.grounding_top, 1)
        check_count("The batch size", self.batch_size, 1)

    def sje(self) -> SJEConfig:
        return SJEConfig(epochs=self.sje_epochs)


@dataclass(frozen=True)
class StudyData:
    """Training images and labels (SJE), the test images attacked, and phi."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    attributes: ClassAttributes
    source: str
    standardise: Standardiser | None = None  # the measured attributes' (digits): grounding by measurement

    def phi(self, config: StudyConfig) -> torch.Tensor:
        return self.attributes.matrix(config.matrix)


def digit_data(n: int) -> StudyData:
    """The bundled digits: the training split for SJE, the first ``n`` test digits, the shipped phi."""
    from core.attributes.matrix import load_digit_attributes
    from core.data.mnist import mnist_split, split_size

    n = min(check_count("The number of images", n, 1), split_size("test"))
    (train_x, train_y), (test_x, test_y) = mnist_split("train"), mnist_split("test")
    phi, standardise = load_digit_attributes()
    return StudyData(train_x, train_y, test_x[:n], test_y[:n], phi,
                     f"the bundled MNIST digits: SJE on the 4,000 training digits, the first {n} test digits attacked",
                     standardise)


def dataset_data(dataset, n: int, test_fraction: float = 0.2, seed: int = 0) -> StudyData:
    """A user's ``AttributeDataset``: its seeded split, SJE on the training part, the first ``n`` test images."""
    train, test = dataset.split(test_fraction, seed)
    test = test[:check_count("The number of images", n, 1)]
    return StudyData(dataset.images[train], dataset.labels[train], dataset.images[test], dataset.labels[test],
                     dataset.attributes, f"{dataset.name} ({dataset.layout} layout): SJE and the class head on "
                     f"{len(train)} images, {len(test)} test images attacked")


@dataclass(frozen=True)
class Subject:
    """A model under study: its role ("standard" or "robust"), network (logits) and identity for the cache."""

    role: str
    model: nn.Module
    model_id: str


@dataclass(frozen=True)
class Predictions:
    """What a model makes of a set of images: the general classifier's class, the attribute-based one's,
    and the predicted attributes A (eq. 5)."""

    general: torch.Tensor
    attribute: torch.Tensor
    attributes: torch.Tensor
    runner_up: torch.Tensor  # the general classifier's second class


@dataclass(frozen=True)
class Grounded:
    """Per image, whether the clean image carries its top attributes of eq. 7 (against the wrong class: the
    adversarial answer, or the clean runner-up where the attack failed) and the adversarial image those of
    eq. 8 (against the true class), (N, k) bool each."""

    clean: torch.Tensor
    adversarial: torch.Tensor


@dataclass(frozen=True)
class ModelRun:
    """One model's SJE, its predictions on the clean test images and on each eps's adversarial images."""

    role: str
    model_id: str
    sje: SJE
    clean: Predictions
    adversarial: dict[float, Predictions]
    x_adv: dict[float, torch.Tensor]
    grounded: dict[float, Grounded] = field(default_factory=dict)  # where the images were measured (digits)


def on_dataset(role: str, model: nn.Module, model_id: str, data: StudyData) -> Subject:
    """A model as the feature extractor of a user's dataset: its last layer replaced by a softmax regression
    over the dataset's classes fitted on the training features (``features.fit_head``), so that the general
    classifier and its attack are over those classes."""
    theta, _ = batched_features(model, data.train_x.to(_device(model)))
    weight, bias = fit_head(theta, data.train_y.to(theta.device), len(data.attributes.classes))
    head = cache_key(kind=f"{STUDY}-head", train=pixel_digest(data.train_x), labels=data.train_y.tolist())
    return Subject(role, with_head(model, weight, bias), f"{model_id}+head:{head[:16]}")


def fitted_sje(subject: Subject, data: StudyData, config: StudyConfig, cache: ResultCache | None) -> SJE:
    """SJE on the subject's features of the training images (cached under the model, data, phi and settings)."""
    phi = data.phi(config)

    def compute():
        theta, _ = batched_features(subject.model, data.train_x.to(_device(subject.model)))
        model = fit_sje(theta, data.train_y.to(theta.device), phi.to(theta.device), config.sje())
        arrays = {"W": model.W, "mean": model.mean, "losses": torch.tensor(model.losses)}
        return {k: v.cpu().numpy() for k, v in arrays.items()}, {"scale": model.scale}

    if cache is None:
        arrays, meta = compute()
    else:
        key = cache_key(kind=f"{STUDY}-sje", model=subject.model_id, train=pixel_digest(data.train_x),
                        labels=data.train_y.tolist(), phi=phi.tolist(), sje=vars(config.sje()))
        found, _ = cache.get_or_compute(key, compute)
        arrays, meta = found.arrays, found.meta
    dev = _device(subject.model)
    return SJE(torch.from_numpy(np.array(arrays["W"])).to(dev), torch.from_numpy(np.array(arrays["mean"])).to(dev),
               float(meta["scale"]), phi.to(dev), tuple(np.array(arrays["losses"]).tolist()))


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def predict(model: nn.Module, sje: SJE, x: torch.Tensor, rule: str) -> Predictions:
    theta, logits = batched_features(model, x)
    top2 = logits.topk(2, dim=1).indices
    return Predictions(top2[:, 0], sje.classify(theta, rule), sje.attributes(theta), top2[:, 1])


def wrong_class(adv_general: torch.Tensor, y: torch.Tensor, clean_general: torch.Tensor,
                clean_runner_up: torch.Tensor) -> torch.Tensor:
    """The wrong class y that eq. 7 compares a clean image with: the general classifier's answer on the
    adversarial image where it is wrong, else the best clean class other than the true one (our choice, so
    that eq. 7 always has a class)."""
    other = torch.where(clean_runner_up != y, clean_runner_up, clean_general)
    return torch.where(adv_general != y, adv_general, other)


def grounded(clean: Predictions, adv: Predictions, y: torch.Tensor, phi: torch.Tensor, measured_clean, measured_adv,
             standardise, top: int) -> Grounded:
    """Section 3.2's grounding of the top ``top`` attributes of eq. 7 on the clean and eq. 8 on the adversarial
    images, by their measurements (``grounding.carried``)."""
    wrong = wrong_class(adv.general, y, clean.general, clean.runner_up)
    sides = []
    for p, reference, measured in ((clean, wrong, measured_clean), (adv, y, measured_adv)):
        indices, _ = discriminative(p.attributes, phi[reference], top)
        values = standardise(measured.values.to(p.attributes.device))
        sides.append(carried(measured, values, p.attributes.gather(1, indices), indices, phi)[2])
    return Grounded(*sides)


def _attack_chunk(model, x, y, eps, progress=None):
    result = ifgsm(model, x, y, eps=eps, progress=progress)
    return {"x_adv": result.x_adv.cpu().numpy()}, {"params": result.params}


def attack(subject: Subject, x: torch.Tensor, y: torch.Tensor, eps: float, *, digests: Sequence[str],
           cache: ResultCache | None, batch_size: int, progress: Progress | None = None) -> torch.Tensor:
    """I-FGSM (eq. 1, Kurakin's defaults) of the subject on ``x`` with true labels ``y``, in cached chunks."""
    n = len(x)
    chunks = [Chunk((x[s:s + batch_size], y[s:s + batch_size], eps),
                    cache_key(kind=f"{STUDY}-attack", attack="I-FGSM", model=subject.model_id,
                              inputs=list(digests[s:s + batch_size]), labels=y[s:s + batch_size].tolist(), eps=eps),
                    len(x[s:s + batch_size]), chunk_label(s, len(x[s:s + batch_size]), n))
              for s in range(0, n, batch_size)]
    done = run_chunks(_attack_chunk, subject.model, chunks, model_id=subject.model_id, cache=cache,
                      timing=f"{STUDY}/I-FGSM/{subject.model_id}/eps={eps}", progress=progress)
    return torch.cat([torch.from_numpy(np.array(arrays["x_adv"])) for arrays, _, _ in done]).to(x.device)


def run_model(subject: Subject, data: StudyData, config: StudyConfig, *, cache: ResultCache | None = None,
              progress: Progress | None = None) -> ModelRun:
    """SJE, then the clean and every eps's adversarial predictions of one model."""
    dev = _device(subject.model)
    x, y = data.test_x.to(dev), data.test_y.to(dev)
    digests = [pixel_digest(image) for image in data.test_x]
    if progress is not None:
        progress(0.0, f"{subject.role}: fitting SJE on the training features")
    sje = fitted_sje(subject, data, config, cache)
    phi = data.phi(config).to(dev)
    clean = predict(subject.model, sje, x, config.rule)
    measured_clean = measure(x) if data.standardise is not None else None
    adversarial, x_adv, grounds = {}, {}, {}
    for k, eps in enumerate(config.eps):
        part = sub_progress(progress, k / len(config.eps), (k + 1) / len(config.eps), f"{subject.role} eps={eps}: ")
        x_adv[eps] = attack(subject, x, y, eps, digests=digests, cache=cache, batch_size=config.batch_size,
                            progress=part)
        adversarial[eps] = predict(subject.model, sje, x_adv[eps], config.rule)
        if measured_clean is not None:
            grounds[eps] = grounded(clean, adversarial[eps], y, phi, measured_clean, measure(x_adv[eps]),
                                    data.standardise, config.grounding_top)
    return ModelRun(subject.role, subject.model_id, sje, clean, adversarial, x_adv, grounds)


# ------------------------------------------------------------------------------------------- figures

def turned_distances(clean: Predictions, adv: Predictions, y: torch.Tensor, phi: torch.Tensor, top: float) -> dict:
    """Figure 5 (eq. 12, 13) over the images the attack turns (clean right, adversarial wrong): d1, d2, and the
    distances of the clean and the adversarial attributes to the wrong class's phi, on the selected attributes."""
    turned = (clean.general == y) & (adv.general != y)
    wrong = adv.general[turned]
    a, a_hat, true = clean.attributes[turned], adv.attributes[turned], y[turned]
    mask = selection_mask(discriminative(a, phi[wrong], top)[0], phi.shape[1]) | \
        selection_mask(discriminative(a_hat, phi[true], top)[0], phi.shape[1])
    return {"d1": figures.d1(a, a_hat, mask), "d2": figures.d2(phi, true, wrong, mask),
            "to_wrong_clean": figures.d1(a, phi[wrong], mask), "to_wrong_adv": figures.d1(a_hat, phi[wrong], mask),
            "to_wrong_clean_all": figures.d1(a, phi[wrong]), "to_wrong_adv_all": figures.d1(a_hat, phi[wrong])}


def robust_distances(standard_adv: Predictions, robust_adv: Predictions, y: torch.Tensor, phi: torch.Tensor,
                     top: float) -> dict:
    """Figure 7 (eq. 14, 15) over the images the standard model gets wrong and the robust one right when
    attacked: d1 between the robust and the standard model's adversarial attributes, d2 between the classes,
    and the robust attributes' distances to the true and the wrong class's phi."""
    chosen = (standard_adv.general != y) & (robust_adv.general == y)
    wrong, true = standard_adv.general[chosen], y[chosen]
    a_r, a_hat = robust_adv.attributes[chosen], standard_adv.attributes[chosen]
    mask = selection_mask(discriminative(a_r, phi[wrong], top)[0], phi.shape[1]) | \
        selection_mask(discriminative(a_hat, phi[true], top)[0], phi.shape[1])
    return {"d1": figures.d1(a_r, a_hat, mask), "d2": figures.d2(phi, true, wrong, mask),
            "robust_to_true": figures.d1(a_r, phi[true], mask), "robust_to_wrong": figures.d1(a_r, phi[wrong], mask),
            "robust_to_true_all": figures.d1(a_r, phi[true]), "robust_to_wrong_all": figures.d1(a_r, phi[wrong])}


def _mean(t: torch.Tensor) -> float | None:
    return float(t.float().mean()) if t.numel() else None


def _percent(t: torch.Tensor) -> float | None:
    return 100 * float(t.float().mean()) if t.numel() else None


ACCURACY_ROWS = (Row("general_standard", "general std", 1), Row("attribute_standard", "attribute std", 1),
                 Row("general_robust", "general rob", 1), Row("attribute_robust", "attribute rob", 1))
FIGURE5_ROWS = (Row("images", "images turned", 0), Row("d1", "d1 (eq. 12)", 2), Row("d2", "d2 (eq. 13)", 2),
                Row("d1_below_d2", "d1 < d2 (%)", 1), Row("to_wrong_clean", "‖A - phi(y)‖", 2),
                Row("to_wrong_adv", "‖Â - phi(y)‖", 2), Row("toward_wrong", "closer to y (%)", 1),
                Row("toward_wrong_all", "closer, all (%)", 1))
FIGURE7_ROWS = (Row("images", "images recovered", 0), Row("d1", "d1 (eq. 14)", 2), Row("d2", "d2 (eq. 15)", 2),
                Row("d1_below_d2", "d1 < d2 (%)", 1), Row("robust_to_true", "‖Â^r - phi(y_n)‖", 2),
                Row("robust_to_wrong", "‖Â^r - phi(y)‖", 2), Row("nearer_true", "nearer y_n (%)", 1),
                Row("nearer_true_all", "nearer, all (%)", 1))
GROUNDING_ROWS = (Row("clean_standard", "clean, std", 1), Row("fooled_standard", "adv. wrong, std", 1),
                  Row("kept_standard", "adv. right, std", 1), Row("clean_robust", "clean, rob", 1),
                  Row("fooled_robust", "adv. wrong, rob", 1), Row("kept_robust", "adv. right, rob", 1))
RATIO_ROWS = (Row("general", "R, general", 2), Row("attribute", "R, attribute", 2))

# The paper's Figure 4 as far as its text gives numbers (accuracy %, rows as ACCURACY_ROWS); the rest is
# drawn only, not printed.
PAPER_FIGURE4 = {
    "AwA2": PaperTable("Gulshad et al., AwA2, ResNet-152 (numbers from the text; the figure's others unprinted)",
                       {"clean": (93.53, 93.83, None, None), "eps=0.01": (70.54, None, 92.15, None)}),
    "CUB": PaperTable("Gulshad et al., CUB, ResNet-152 (numbers from the text; the figure's others unprinted)",
                      {"clean": (81.00, 76.90, None, None), "eps=0.01": (31.0, None, None, None)}),
}


def column(eps: float) -> str:
    return f"eps={eps:g}"


@dataclass(frozen=True)
class StudyResult:
    """The runs of the standard (and robust) model and the study's tables."""

    config: StudyConfig
    data_source: str
    labels: torch.Tensor
    phi: torch.Tensor
    standard: ModelRun
    robust: ModelRun | None = None
    seconds: float | None = None
    extra: dict = field(default_factory=dict)

    def columns(self) -> list[str]:
        return ["clean"] + [column(e) for e in self.config.eps]

    def accuracy(self) -> dict[str, dict[str, float | None]]:
        """Figure 4: accuracy (%) of the general and the attribute-based classifier, clean and per eps."""
        table = {row.key: dict.fromkeys(self.columns()) for row in ACCURACY_ROWS}
        for run in (r for r in (self.standard, self.robust) if r is not None):
            for kind in ("general", "attribute"):
                row = {"clean": _percent(getattr(run.clean, kind) == self.labels)}
                row |= {column(e): _percent(getattr(run.adversarial[e], kind) == self.labels) for e in self.config.eps}
                table[f"{kind}_{run.role}"] = row
        return table

    def figure5(self, eps: float) -> dict[str, torch.Tensor]:
        return turned_distances(self.standard.clean, self.standard.adversarial[eps], self.labels, self.phi,
                                self.config.top)

    def figure7(self, eps: float) -> dict[str, torch.Tensor] | None:
        if self.robust is None:
            return None
        return robust_distances(self.standard.adversarial[eps], self.robust.adversarial[eps], self.labels, self.phi,
                                self.config.top)

    def distances(self) -> tuple[dict, dict]:
        """Figures 5 and 7 summarised per eps (means, counts, shares)."""
        five, seven = {r.key: {} for r in FIGURE5_ROWS}, {r.key: {} for r in FIGURE7_ROWS}
        for e in self.config.eps:
            f, name = self.figure5(e), column(e)
            five["images"][name] = len(f["d1"])
            for key in ("d1", "d2", "to_wrong_clean", "to_wrong_adv"):
                five[key][name] = _mean(f[key])
            five["d1_below_d2"][name] = _percent(f["d1"] < f["d2"])
            five["toward_wrong"][name] = _percent(f["to_wrong_adv"] < f["to_wrong_clean"])
            five["toward_wrong_all"][name] = _percent(f["to_wrong_adv_all"] < f["to_wrong_clean_all"])
            s = self.figure7(e)
            for row in FIGURE7_ROWS:
                seven[row.key][name] = None
            if s is not None:
                seven["images"][name] = len(s["d1"])
                for key in ("d1", "d2", "robust_to_true", "robust_to_wrong"):
                    seven[key][name] = _mean(s[key])
                seven["d1_below_d2"][name] = _percent(s["d1"] < s["d2"])
                seven["nearer_true"][name] = _percent(s["robust_to_true"] < s["robust_to_wrong"])
                seven["nearer_true_all"][name] = _percent(s["robust_to_true_all"] < s["robust_to_wrong_all"])
        return five, seven

    def grounding(self) -> dict[str, dict[str, float | None]] | None:
        """The share (%) of the selected attributes grounded on the images themselves: of eq. 7's on the clean
        images the model gets right, of eq. 8's on the adversarial images it gets wrong and on those it still
        gets right; None where the images were not measured."""
        if not self.standard.grounded:
            return None
        table = {r.key: dict.fromkeys(column(e) for e in self.config.eps) for r in GROUNDING_ROWS}
        for run in (r for r in (self.standard, self.robust) if r is not None):
            right = run.clean.general == self.labels
            for e in self.config.eps:
                g, adv_right = run.grounded[e], run.adversarial[e].general == self.labels
                table[f"clean_{run.role}"][column(e)] = _percent(g.clean[right])
                table[f"fooled_{run.role}"][column(e)] = _percent(g.adversarial[right & ~adv_right])
                table[f"kept_{run.role}"][column(e)] = _percent(g.adversarial[right & adv_right])
        return table

    def ratios(self) -> dict[str, dict[str, float | None]]:
        """Figure 9: R (eq. 11) per eps for the general and the attribute-based classifier."""
        table = {r.key: {} for r in RATIO_ROWS}
        for e in self.config.eps:
            for kind in ("general", "attribute"):
                table[kind][column(e)] = None if self.robust is None else figures.robust_ratio(
                    getattr(self.standard.clean, kind) == self.labels,
                    getattr(self.standard.adversarial[e], kind) == self.labels,
                    getattr(self.robust.adversarial[e], kind) == self.labels)
        return table

    def format(self, markdown: bool = False) -> str:
        eps_columns = [column(e) for e in self.config.eps]
        five, seven = self.distances()
        parts = [f"Data: {self.data_source}; models: {self.standard.model_id}"
                 + (f", robust {self.robust.model_id}" if self.robust else "") + ".",
                 "Figure 4: accuracy (%) of the general and the attribute-based classifier",
                 render(ACCURACY_ROWS, self.columns(), self.accuracy(), markdown, corner="classifier")]
        for name, paper in PAPER_FIGURE4.items():
            parts += [f"  paper, {name}: {paper.source}",
                      render(ACCURACY_ROWS, self.columns(), paper.values(ACCURACY_ROWS, self.columns()), markdown,
                             corner="classifier")]
        parts += ["Figure 5: standard model, images right when clean and wrong when attacked (mean distances)",
                  render(FIGURE5_ROWS, eps_columns, five, markdown, corner="figure")]
        if self.grounding() is not None:
            parts += [f"Grounding: selected attributes (top {self.config.grounding_top} of eq. 7 / 8) the images carry "
                      "(%), of images right when clean",
                      render(GROUNDING_ROWS, eps_columns, self.grounding(), markdown, corner="images")]
        if self.robust is not None:
            parts += ["Figure 7: adversarial images the standard model gets wrong and the robust one right",
                      render(FIGURE7_ROWS, eps_columns, seven, markdown, corner="figure"),
                      "Figure 9: robust ratio R = L_R / L_S (eq. 9-11)",
                      render(RATIO_ROWS, eps_columns, self.ratios(), markdown, corner="ratio")]
        return "\n\n".join(parts)

    def npz(self, x: torch.Tensor) -> bytes:
        """The attacked images ``x``, their labels, phi, and per model and eps the exact adversarial images and
        both classifiers' answers and predicted attributes, as one compressed NPZ."""
        import io

        arrays = {"x": x, "labels": self.labels, "phi": self.phi}
        for run in (r for r in (self.standard, self.robust) if r is not None):
            arrays |= {f"{run.role}_clean_{k}": getattr(run.clean, k) for k in ("general", "attribute", "attributes")}
            for e in self.config.eps:
                tag = f"{run.role}_eps{e:g}".replace(".", "p")
                arrays |= {f"{tag}_x_adv": run.x_adv[e]} | {
                    f"{tag}_{k}": getattr(run.adversarial[e], k) for k in ("general", "attribute", "attributes")}
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{k: v.detach().cpu().numpy() for k, v in arrays.items()})
        return buffer.getvalue()

    def to_dict(self) -> dict:
        five, seven = self.distances()
        distributions = {column(e): {k: v.tolist() for k, v in self.figure5(e).items()} for e in self.config.eps}
        settings = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self.config).items()}
        out = {"study": STUDY, "config": settings,
               "data": self.data_source, "images": len(self.labels),
               "models": {r.role: {"model_id": r.model_id, "sje": r.sje.to_dict()}
                          for r in (self.standard, self.robust) if r is not None},
               "figure4_accuracy": self.accuracy(), "figure5": five, "figure5_distributions": distributions,
               "grounding": self.grounding(),
               "paper_figure4": {name: p.values(ACCURACY_ROWS, self.columns()) for name, p in PAPER_FIGURE4.items()},
               "seconds": self.seconds} | self.extra
        if self.robust is not None:
            out |= {"figure7": seven, "figure9_robust_ratio": self.ratios(),
                    "figure7_distributions": {column(e): {k: v.tolist() for k, v in self.figure7(e).items()}
                                              for e in self.config.eps}}
        return out


def evaluate(standard: Subject, data: StudyData, config: StudyConfig, *, robust: Subject | None = None,
             cache: ResultCache | None = None, progress: Progress | None = None) -> StudyResult:
    """The study on ``data`` for the standard model and, where given, the robust one."""
    import time

    started = time.perf_counter()
    if len(data.test_x) == 0 or len(data.train_x) == 0:
        raise InputError("The study needs training images (for SJE) and test images to attack.")
    subjects = [replace(s, role=role) for s, role in ((standard, "standard"), (robust, "robust")) if s is not None]
    runs = [run_model(s, data, config, cache=cache,
                      progress=sub_progress(progress, k / len(subjects), (k + 1) / len(subjects), ""))
            for k, s in enumerate(subjects)]
    dev = _device(standard.model)
    if progress is not None:
        progress(1.0, "done")
    return StudyResult(config, data.source, data.test_y.to(dev), data.phi(config).to(dev), runs[0],
                       runs[1] if len(runs) > 1 else None, time.perf_counter() - started)


__all__ = ["EPS", "PAPER_FIGURE4", "StudyConfig", "StudyData", "StudyResult", "Subject", "dataset_data",
           "digit_data", "evaluate", "on_dataset"]
