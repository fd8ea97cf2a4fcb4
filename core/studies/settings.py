"""A study's settings, stated once: each field of a study's frozen config carries its default and the
sentence that explains it, from which the study's command builds its flags (``core.commands.flags``)
and its ``--help``."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field
from typing import Any


def setting(default: Any, help: str, *, flag: str | None = None, choices: Sequence[str] | None = None) -> Any:
    """A config field with its ``default`` and ``help``; its flag is ``--<name-with-dashes>`` unless
    ``flag`` names another, and ``choices`` lists the values it takes where they are names."""
    return field(default=default, metadata={"help": help, "flag": flag, "choices": choices})
