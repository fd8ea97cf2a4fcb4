"""What a browser session keeps: each page's settings, uploaded files across page changes, a mark for a
run that may be cut short; and the process-wide result cache."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import streamlit as st

from core.cache import ResultCache, default_directory
from core.wording import counted


@st.cache_resource(show_spinner=False)
def _cache_at(directory: str) -> ResultCache:
    return ResultCache(directory)


def result_cache() -> ResultCache:
    """The persistent result cache (``$XADV_CACHE_DIR`` or ``~/.cache/xadv``), one per directory."""
    return _cache_at(str(default_directory()))


# Widgets whose values session state may not be given (uploads, download and Stop buttons): not kept.
_NOT_SETTABLE = re.compile(r"(_upload|_weights_(?!path_).*|_dl_.*|_png_.*|_table_(json|npz)|_stop)$")


def keep_page_settings(prefixes: tuple[str, ...]) -> None:
    """Streamlit forgets a page's widget values while another page is shown; writing them back at the top
    of every run (its documented workaround) keeps each page's model, image and settings, and so its
    results, for when one comes back. An uploader's file cannot be written back (``kept_uploads``
    keeps it instead)."""
    for key in list(st.session_state):
        if isinstance(key, str) and key.startswith(prefixes) and not _NOT_SETTABLE.search(key):
            st.session_state[key] = st.session_state[key]


def holds_upload(widget: str) -> bool:
    """Whether the uploader ``widget`` itself held files on this run (not only ``kept_uploads``' copy)."""
    return bool(st.session_state.get(f"{widget}_held"))


def _name_and_bytes(upload) -> tuple[str, bytes]:
    return upload.name, upload.getvalue()


def kept_uploads(widget: str, label: str, *, types: Sequence[str], max_mb: int, multiple: bool = False,
                 keep: Callable[[Any], tuple] = _name_and_bytes) -> list[tuple]:
    """The files of the uploader ``widget`` (one at most unless ``multiple``; of ``types``, each up to
    ``max_mb``), each as ``keep(file)``, a tuple whose first item is the file's name (default
    ``(name, bytes)``), kept in session state: Streamlit empties an uploader that was not drawn on the last
    run (after a page change, or a switch to another source), so the files would be lost. ``keep`` runs
    once per upload, not on every rerun. Files the user removes (the uploader's x) are forgotten; a new
    upload replaces them."""
    kept, held = f"{widget}_kept", f"{widget}_held"  # kept: (the uploads' file ids, what keep made of them)
    drawn_last_run = widget in st.session_state  # checked before the widget is drawn again
    upload = st.file_uploader(label, type=list(types), key=widget, accept_multiple_files=multiple,
                              max_upload_size=max_mb)
    files = list(upload or []) if multiple else [upload] if upload is not None else []
    if files:
        ids = [f.file_id for f in files]
        if st.session_state.get(kept, ((), []))[0] != ids:
            st.session_state[kept] = (ids, [keep(f) for f in files])
        st.session_state[held] = True
        return st.session_state[kept][1]
    if drawn_last_run and st.session_state.get(held):  # it held the files last run: the user removed them
        st.session_state.pop(kept, None)
    st.session_state[held] = False
    if kept not in st.session_state:
        return []
    items = st.session_state[kept][1]
    st.caption(f"Using {items[0][0] if len(items) == 1 else counted(len(items), 'file')}, uploaded earlier; "
               f"upload {'others' if multiple else 'another file'} to replace {'them' if multiple else 'it'}.")
    return items


@contextmanager
def unfinished_mark(key: str, what: str) -> Iterator[None]:
    """Keeps ``what`` (a run's description) in the session while the run works. Changing a setting, pressing
    Stop or opening another page ends the script inside the run, so the mark stays for ``report_unfinished``."""
    st.session_state[key] = what
    yield
    del st.session_state[key]


def report_unfinished(key: str, kept: str = "The attacks that had finished are cached; run it again to see "
                                            "the results.", where=None) -> None:
    """Says, once, in ``where`` (the run's status line, ``runs.status_slot``; default: here) that the run
    marked under ``key`` was cut short (it would otherwise vanish without a word), and what of it was
    ``kept``."""
    what = st.session_state.pop(key, None)
    if what:
        why = ("you pressed Stop" if st.session_state.pop(f"{key.removesuffix('_unfinished')}_stop_pressed", False)
               else "a setting was changed, Stop was pressed or another page was opened while it ran")
        (where or st).warning(f"{what} did not finish: {why}. {kept}", icon=":material/pause_circle:")
