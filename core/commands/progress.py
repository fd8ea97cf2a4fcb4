"""Progress of long commands on stderr: core reports ``progress(fraction, message)``, tqdm draws it."""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar() -> Iterator[Callable[[float, str], None]]:
    """A ``progress(fraction, message)`` callback drawn as one bar (a log file gets a line per 10 s)."""
    from tqdm import tqdm

    with tqdm(total=1000, unit="", bar_format="{l_bar}{bar}| {elapsed} elapsed, about {remaining} left",
              mininterval=0.1 if sys.stderr.isatty() else 10) as bar:
        def progress(fraction: float, message: str) -> None:
            bar.set_description(message[:60], refresh=False)  # drawn by update, at most every mininterval
            bar.update(int(fraction * 1000) - bar.n)

        yield progress
