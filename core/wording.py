"""Small helpers for the sentences the command line and the dashboard print."""
from __future__ import annotations

import re


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1: "1 step", "20 steps"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def class_label(name: str, index: int) -> str:
    """A class as the pages name it: ``"tiger cat (282)"``; a class named by its index alone (MNIST's
    "7") just ``"7"``."""
    return name if name == str(index) else f"{name} ({index})"


def file_safe(text: str) -> str:
    """``text`` for a file name: lower case, runs of anything but letters and digits as one ``-``
    (``"tiger cat"`` -> ``"tiger-cat"``, ``"electrical device"`` -> ``"electrical-device"``)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "class"
