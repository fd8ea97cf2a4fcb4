"""The Attributes page's sidebar: the model (standard or adversarially trained), the digit, eps, how many
attributes, the attribution method."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.data import digit_label, load_digit
from core.data.mnist import split_size
from core.studies.attributes import EPS

MODELS = {"standard": "mnist_cnn", "robust": "mnist_cnn_robust"}
METHODS = {"integrated_gradients": "integrated gradients", "saliency": "saliency", "lrp": "LRP"}


@dataclass(frozen=True)
class Settings:
    role: str
    model: str
    index: int
    label: int
    eps: float
    top: int
    method: str


def sidebar() -> Settings:
    with st.sidebar:
        st.subheader("Model")
        role = st.radio("Model", list(MODELS), key="attributes_role", horizontal=True,
                        format_func=lambda r: f"{r} ({MODELS[r]})",
                        help="mnist_cnn, or the same network adversarially trained against PGD at eps 0.12 "
                             "(eq. 2; python -m core train mnist_cnn_robust).")
        st.subheader("Digit")
        index = st.number_input("Test digit", 0, split_size("test") - 1, 3, key="attributes_digit",
                                help="An image of the bundled test split (digit i is a digit i mod 10).")
        st.image(load_digit(int(index)).to_uint8(), width=84)
        st.subheader("Attack and attributes")
        eps = st.select_slider("eps (pixel scale)", options=sorted({*EPS, 0.02, 0.03, 0.2, 0.3}), value=0.12,
                               key="attributes_eps", help="I-FGSM's l_inf budget on [0, 1] pixels; the paper's "
                                                          "0.01, 0.06 and 0.12 among them.")
        top = st.slider("Attributes shown", 1, 6, 3, key="attributes_top",
                        help="The most discriminative attributes (eq. 7 for the clean image, eq. 8 for the attacked).")
        method = st.selectbox("Attribution of A_i", list(METHODS), format_func=METHODS.get, key="attributes_method")
    return Settings(role, MODELS[role], int(index), digit_label(int(index)), float(eps), int(top), method)
