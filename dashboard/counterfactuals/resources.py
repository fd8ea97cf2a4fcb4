"""What the Counterfactuals page loads once per server: each data set's task (model, actionable ranges,
training rows, test rows), its class densities and its LOF."""
from __future__ import annotations

import streamlit as st

from core.counterfactuals.densities import GMM, KDE, KNN
from core.counterfactuals.metrics import LOF
from core.studies.cfe import Task, task


@st.cache_resource(show_spinner="Loading the data set and its model…")
def dataset_task(dataset: str) -> Task:
    return task(dataset, 100)


@st.cache_resource(show_spinner="Fitting the density model on the training rows…")
def density(dataset: str, kind: str):
    t = dataset_task(dataset)
    return {"kde": KDE, "gmm": GMM, "knn": KNN}[kind](t.z_train, t.y_train)


@st.cache_resource(show_spinner="Fitting LOF on the training rows…")
def lof(dataset: str) -> LOF:
    t = dataset_task(dataset)
    return LOF(t.z_train, t.y_train)
