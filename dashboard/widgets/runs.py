"""Runs the user can see: while anything runs, a status line at the top of the page says what runs, its
step, the time elapsed and left (estimated from this machine's own last runs, ``core.timings``), with
a Stop button. Stop reruns the page, which ends the run; a page keeps what finished in session state
as it goes, and the next run says the run was stopped (``state.report_unfinished``)."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import streamlit as st

from dashboard.widgets.state import unfinished_mark

Progress = Callable[[float, str], None]


def status_slot():
    """The place at the top of a page where a run's status line appears: call it first in the page."""
    return st.empty()


def duration(seconds: float) -> str:
    """``"42 s"``, ``"3 min 5 s"``."""
    seconds = max(0, round(seconds))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60} s"


def time_left(elapsed: float, fraction: float, estimate: float | None) -> str | None:
    """What is left, from the machine's own estimate of the whole run while little of it has run, then
    from the pace so far; None where neither is known yet."""
    if estimate is not None and (fraction < 0.25 or elapsed < estimate):
        return duration(max(estimate - elapsed, 0))
    if fraction > 0.02:
        return duration(elapsed * (1 - fraction) / fraction)
    return None


def _stopped(key: str) -> None:
    st.session_state[f"{key}_stop_pressed"] = True


@contextmanager
def visible_run(slot, key: str, what: str, estimate: float | None) -> Iterator[Progress]:
    """Within the block, ``slot`` (``status_slot``) shows ``what`` runs with a bar, the step the block
    reports through the yielded ``progress(fraction, message)``, the time elapsed and left, and a Stop
    button; the run is marked under ``<key>_unfinished`` (``unfinished_mark``) until the block ends, or
    raises a ``ValueError`` (a refusal, which its caller shows)."""
    box = slot.container(border=True, key=f"{key}_status")
    top = box.container(horizontal=True, vertical_alignment="center")
    line = top.empty()
    top.button("Stop", key=f"{key}_stop", icon=":material/stop_circle:", on_click=_stopped, args=(key,),
               help="Stops the run; what has finished stays on the page and in the cache.")
    bar = box.progress(0.0)
    started = time.perf_counter()
    planned = f" (about {duration(estimate)} on this machine)" if estimate else ""

    def progress(fraction: float, message: str = "") -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        elapsed = time.perf_counter() - started
        left = time_left(elapsed, fraction, estimate)
        line.markdown(f":material/autorenew: **{what}**{planned} · {message} · {duration(elapsed)} elapsed"
                      + (f", about {left} left" if left else ""))
        bar.progress(fraction)

    progress(0.0, "starting…")
    st.session_state.pop(f"{key}_stop_pressed", None)
    mark = f"{key}_unfinished"
    try:
        with unfinished_mark(mark, what):
            yield progress
    except ValueError:  # a refusal (InputError) the caller shows: nothing was cut short
        st.session_state.pop(mark, None)
        slot.empty()
        raise
    slot.empty()
