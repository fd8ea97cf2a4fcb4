"""A study's table: one column per attack (its result and figures), one row per figure the paper
reports, the paper's own numbers beside ours, as text, markdown, JSON-safe values and an NPZ of the
exact adversarial inputs.

A study states its rows once (``Row``: the figure's key in a column's figures, the label the paper
gives it, the decimals it prints) and its paper's table as data (``PaperTable``); ``values`` and
``PaperTable.values`` lay both out as row -> column -> value, ``render`` prints them.
"""
from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core.attacks.result import AttackResult

Cell = float | tuple[float | None, float | None] | None  # a figure, or two (``Row.then``); None: no figure
Values = dict[str, dict[str, Cell]]  # row key -> column name -> cell


@dataclass(frozen=True)
class Row:
    """One figure of the table: its key in a column's figures, its label in the paper, its decimals; with
    ``then`` (decimals, mark), each cell holds a pair, the second figure written after the first with its
    own decimals and the mark (eXIAA's Table 1: "24.9 0.37↓")."""

    key: str
    label: str
    decimals: int
    then: tuple[int, str] | None = None
    join: str = " "  # between the pair's figures ("–" for an interval)

    def format(self, value: Cell, missing: str = "-") -> str:
        """A cell: the value with the row's decimals (a pair: both, see ``then``), ``missing`` where there is
        none."""
        if self.then is not None and value is not None:
            decimals, mark = self.then
            first, second = (Row(self.key, self.label, d).format(v, missing)
                             for d, v in zip((self.decimals, decimals), value))
            return f"{first}{self.join}{second}{mark}"
        if value is None or math.isnan(value):
            return missing
        return f"{value:.{self.decimals}f}"


@dataclass(frozen=True)
class Column:
    """One column of the table: the attack's result and its figures (keyed by the rows' keys, and more)."""

    name: str
    result: AttackResult
    figures: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "figures": self.figures, "attack": self.result.to_dict()}


@dataclass(frozen=True)
class PaperTable:
    """A paper's own table: what it ran on (``source``, printed above it) and, per column name, its
    numbers in the order of the study's rows."""

    source: str
    columns: dict[str, tuple[float, ...]]

    def values(self, rows: Sequence[Row], names: Sequence[str]) -> Values:
        """The paper's figures in the layout of ``values`` for our columns ``names`` (None where the
        paper has no such column)."""
        return {row.key: {n: self.columns[n][i] if n in self.columns else None for n in names}
                for i, row in enumerate(rows)}


def values(rows: Sequence[Row], columns: Sequence[Column]) -> Values:
    """Row key -> column name -> figure."""
    return {row.key: {c.name: c.figures[row.key] for c in columns} for row in rows}


def render(rows: Sequence[Row], names: Sequence[str], table: Values, markdown: bool = False,
           corner: str = "Algorithm") -> str:
    """The table as plain text (columns right-aligned) or as markdown; ``corner`` heads the labels."""
    if markdown:
        lines = [f"| {corner} | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        lines += [f"| {r.label} | " + " | ".join(r.format(table[r.key][n]) for n in names) + " |" for r in rows]
        return "\n".join(lines)
    cells = {r.key: [r.format(table[r.key][n]) for n in names] for r in rows}
    width = max(12, *(len(n) + 2 for n in names), *(len(c) + 2 for row in cells.values() for c in row))
    lines = [f"{corner:<16}" + "".join(f"{n:>{width}}" for n in names)]
    lines += [f"{r.label:<16}" + "".join(f"{c:>{width}}" for c in cells[r.key]) for r in rows]
    return "\n".join(lines)


def column_slug(column: str) -> str:
    """A column's name for file and array names: "LRPC eps=12.5" -> "lrpc_eps12p5"."""
    return column.lower().replace(" eps=", "_eps").replace(" ", "_").replace(".", "p")


def npz(x: torch.Tensor, input_names: Sequence[str], columns: Sequence[Column]) -> bytes:
    """The inputs ``x`` the study ran on, their names, and each column's exact adversarial inputs
    (``<column_slug>_x_adv``; the perturbation is ``x_adv - x``), success, iterations and labels, as
    one compressed NPZ."""
    arrays = {"x": x.detach().cpu().numpy(), "image_names": np.array(list(input_names))}
    for column in columns:
        arrays |= {f"{column_slug(column.name)}_{name}": value for name, value in column.result.arrays().items()
                   if name != "delta"}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()
