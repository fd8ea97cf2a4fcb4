"""A dataset of the user's on the Attributes page: read from a folder on this server in one of the layouts of
``core.attributes.datasets``, a head over its classes and SJE fitted on the chosen model's features (cached
for the session's process), its held-out images to attack."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.attributes.datasets import AttributeDataset, load_dataset
from core.attributes.sje import SJE
from core.errors import InputError
from core.studies.attributes import StudyConfig, StudyData, Subject, dataset_data, fitted_sje, on_dataset
from dashboard.attributes.settings import DatasetChoice
from dashboard.widgets.state import result_cache

ALL = 10 ** 9  # every held-out image


@dataclass(frozen=True)
class Prepared:
    dataset: AttributeDataset
    data: StudyData
    subject: Subject
    sje: SJE


@st.cache_resource(show_spinner="Reading the dataset…", ttl=600, max_entries=2)
def _dataset(choice: DatasetChoice, size: int, channels: int, crop_fraction: float) -> AttributeDataset:
    return load_dataset(choice.layout, choice.root, choice.csv, size=size, channels=channels,
                        crop_fraction=crop_fraction, per_class=choice.per_class)


@st.cache_resource(show_spinner="Fitting a head over your classes and SJE on the model's features…", max_entries=2)
def _prepare(_model, model_id: str, choice: DatasetChoice, size: int, channels: int, crop: float) -> Prepared:
    dataset = _dataset(choice, size, channels, crop)
    data = dataset_data(dataset, ALL)
    subject = on_dataset("standard", _model, model_id, data)
    return Prepared(dataset, data, subject, fitted_sje(subject, data, StudyConfig(), result_cache()))


def prepare(loaded, choice: DatasetChoice) -> Prepared:
    """The dataset and its fitted pieces; an ``InputError`` that says what to fix otherwise."""
    if not choice.root:
        raise InputError("Type the dataset's folder in the sidebar.")
    if choice.layout == "imagefolder" and not choice.csv:
        raise InputError("An ImageFolder dataset needs its class-attribute CSV (class,<attribute>,...).")
    info = loaded.info.input
    return _prepare(loaded.model, loaded.info.model_id, choice, info.size, info.channels, info.crop_fraction)
