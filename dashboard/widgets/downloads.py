"""Downloads and progress: one button per file, a ZIP of many files, file names from an image's name, and
core's ``progress`` callback drawn on an ``st.progress`` bar."""
from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import streamlit as st

MIME = {".png": "image/png", ".npz": "application/octet-stream", ".json": "application/json",
        ".zip": "application/zip"}


def name_stem(name: str | None) -> str:
    """An image's name for download file names, without its extension ("rgba.png" -> "rgba")."""
    return Path(name).stem if name else "upload"


def download_buttons(files: dict[str, bytes], prefix: str, key: str) -> None:
    """One download button per file, named ``<prefix>_<name>``, without rerunning the page."""
    for name, data in files.items():
        suffix = Path(name).suffix
        st.download_button(
            suffix.lstrip(".").upper() or name, data, file_name=f"{prefix}_{name}",
            mime=MIME.get(suffix, "application/octet-stream"), key=f"{key}_{name}", on_click="ignore",
            help=f"Download {prefix}_{name}",
        )


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """One ZIP archive of ``files`` (name -> bytes), for a single download instead of many."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def progress_callback(bar) -> Callable[[float, str], None]:
    """Core's ``progress(fraction, message)`` drawn on an ``st.progress`` bar."""

    def progress(fraction: float, message: str = "") -> None:
        bar.progress(float(min(max(fraction, 0.0), 1.0)), text=message or None)

    return progress
