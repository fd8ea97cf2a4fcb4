"""Writing a command's results: checked before the work, written whole or not at all."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from core.errors import InputError


def check_writable(out: Path, flag: str = "--out", example: str = "results.json") -> None:
    """``out`` (given as ``flag``) can be written: its missing folders can be created and a file there
    opened. What the check made (folders, the file) is removed again, so a run refused later leaves
    nothing behind."""
    if out.is_dir():
        raise InputError(f"{flag} {out} is a folder; give a file name such as {out / example}.")
    existed = out.exists() or out.is_symlink()  # a dangling link is the user's: never removed
    missing = [folder for folder in out.parents if not folder.exists()]  # innermost first
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a"):
            pass
    except OSError as exc:
        raise InputError(f"Cannot write {flag} {out}: {exc}") from exc
    finally:
        if not existed and out.exists():
            out.unlink()
        for folder in missing:
            with contextlib.suppress(OSError):  # never hides the error that brought us here
                folder.rmdir()


def write_atomically(out: Path, data: bytes, flag: str = "--out", rerun: str = "") -> None:
    """``data`` to ``out`` (a link: to its target; given as ``flag``) through a temporary file beside it, so
    a failed write (a full disk) leaves an earlier file there whole; a device or pipe is written as it
    is. A failure becomes an ``InputError`` (``rerun``: what a rerun costs)."""
    target = out.resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and not target.is_file():
            target.write_bytes(data)
        else:
            partial = target.with_name(f".{target.name}.partial")
            try:
                partial.write_bytes(data)
                os.replace(partial, target)
            finally:
                with contextlib.suppress(OSError):  # gone after the replace
                    partial.unlink()
    except OSError as exc:
        raise InputError(f"Cannot write {flag} {out}: {exc}" + (f" ({rerun})." if rerun else ".")) from exc
