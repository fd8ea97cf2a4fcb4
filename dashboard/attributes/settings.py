"""The Attributes page's sidebar: the data (the bundled digits, or a dataset of yours in a folder on this
server), the model, the image, eps, how many attributes, the attribution method."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.attributes.datasets import LAYOUTS
from core.data import digit_label, load_digit
from core.data.mnist import split_size
from core.models import REGISTRY
from core.models.inputs import ImageInput
from core.studies.attributes import EPS

MODELS = {"standard": "mnist_cnn", "robust": "mnist_cnn_robust"}
METHODS = {"integrated_gradients": "integrated gradients", "saliency": "saliency", "lrp": "LRP"}
SOURCES = {"digits": "MNIST digits (measured attributes)", "dataset": "A dataset of yours (folder on this server)"}
LAYOUT_HELP = {"imagefolder": "one folder per class under the root, and a CSV file class,<attribute>,...",
               "awa2": "classes.txt, predicates.txt, predicate-matrix-continuous.txt, JPEGImages/<class>/",
               "cub": "classes.txt, attributes/class_attribute_labels_continuous.txt, images/<class>/"}


@dataclass(frozen=True)
class DatasetChoice:
    layout: str
    root: str
    csv: str | None
    per_class: int


@dataclass(frozen=True)
class Settings:
    source: str
    role: str
    model: str
    index: int
    label: int | None  # the digit's class; a dataset image's comes with the dataset
    eps: float
    top: int
    method: str
    dataset: DatasetChoice | None = None


def _image_models() -> list[str]:
    return [name for name, spec in REGISTRY.items() if isinstance(spec.input, ImageInput)]


def sidebar() -> Settings:
    with st.sidebar:
        st.subheader("Data")
        source = st.radio("Data", list(SOURCES), format_func=SOURCES.get, key="attributes_source")
        dataset = None
        if source == "digits":
            role = st.radio("Model", list(MODELS), key="attributes_role", horizontal=True,
                            format_func=lambda r: f"{r} ({MODELS[r]})",
                            help="mnist_cnn, or the same network adversarially trained against PGD at eps 0.12 "
                                 "(eq. 2; python -m core train mnist_cnn_robust).")
            model = MODELS[role]
            index = st.number_input("Test digit", 0, split_size("test") - 1, 3, key="attributes_digit",
                                    help="An image of the bundled test split (digit i is a digit i mod 10).")
            st.image(load_digit(int(index)).to_uint8(), width=84)
            label = digit_label(int(index))
        else:
            role, label = "standard", None
            layout = st.selectbox("Layout", LAYOUTS, key="attributes_layout",
                                  help="; ".join(f"{k}: {v}" for k, v in LAYOUT_HELP.items()))
            root = st.text_input("Dataset folder", key="attributes_root", placeholder="/data/AwA2")
            csv = st.text_input("Class-attribute CSV", key="attributes_csv") if layout == "imagefolder" else None
            per_class = st.number_input("Images per class (at most)", 2, 1000, 30, key="attributes_per_class")
            names = _image_models()
            model = st.selectbox("Feature extractor", names, index=names.index("mnist_cnn"), key="attributes_extractor",
                                 help="Any image model: its penultimate features feed SJE and a new head over your "
                                      "classes.")
            index = st.number_input("Test image", 0, 10_000, 0, key="attributes_dataset_image",
                                    help="An image of the dataset's held-out split.")
            dataset = DatasetChoice(layout, root.strip(), (csv or "").strip() or None, int(per_class))
        st.subheader("Attack and attributes")
        eps = st.select_slider("eps (pixel scale)", options=sorted({*EPS, 0.02, 0.03, 0.2, 0.3}), value=0.12,
                               key="attributes_eps", help="I-FGSM's l_inf budget on [0, 1] pixels; the paper's "
                                                          "0.01, 0.06 and 0.12 among them.")
        top = st.slider("Attributes shown", 1, 6, 3, key="attributes_top",
                        help="The most discriminative attributes (eq. 7 for the clean image, eq. 8 for the attacked).")
        method = st.selectbox("Attribution of A_i", list(METHODS), format_func=METHODS.get, key="attributes_method")
    return Settings(source, role, model, int(index), label, float(eps), int(top), method, dataset)
