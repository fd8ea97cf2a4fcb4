"""Small helpers for the sentences the command line and the dashboard print."""
from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1: "1 step", "20 steps"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
