"""Models: registry and loading, normalisation wrapper, coarse-to-fine hierarchy, predictions."""
from core.models.hierarchy import C2FDecision, HierarchicalClassifier, Hierarchy, shipped_hierarchies
from core.models.inputs import ImageInput, TabularInput
from core.models.predict import Prediction, top_k
from core.models.registry import DEFAULT_MODEL, REGISTRY, LoadedModel, ModelInfo, availability, load
from core.models.wrapper import ImageClassifier, Normalize, TabularClassifier

__all__ = [
    "C2FDecision", "DEFAULT_MODEL", "Hierarchy", "HierarchicalClassifier", "ImageClassifier", "ImageInput",
    "LoadedModel", "ModelInfo", "Normalize", "Prediction", "REGISTRY", "TabularClassifier", "TabularInput",
    "availability", "load", "shipped_hierarchies", "top_k",
]
