"""The compact comparison grid a study page compares images in: one row per image (the original, then
each attack's result, say), one column per kind of picture (the image, its perturbation, maps, changes of
maps), and each row's labels and figures beside it. Every row is one Plotly figure, small enough that
the rows of a comparison fit a laptop screen; the figure's full-screen button (top right, on hover)
shows it large. On a phone the text goes under its row."""
from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core.explain.heatmap import PLOTLY_SCALE, PLOTLY_UNSIGNED_SCALE, ColourScale, png_bytes

CELL = 108  # px: the side of a picture; six cells and the text beside them fit a 1400 px window's page
TITLE = 34  # px above the first row for the column titles (two lines)
SPACING = 0.012  # between cells, as a fraction of the row's width
# Plotly's toolbar keeps the PNG download and Streamlit's full-screen button: zooming into a small cell helps no one
_TOOLBAR = {"displaylogo": False, "modeBarButtonsToRemove": [
    "zoom2d", "pan2d", "select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d", "resetScale2d"]}


@dataclass(frozen=True)
class Picture:
    """A picture cell: an RGB (H, W, 3) or grey (H, W) uint8 image, and what it is (its hover text)."""

    rgb: np.ndarray
    name: str


@dataclass(frozen=True)
class MapCell:
    """A map cell: values (H, W) drawn on their colour scale, and what they are (hover text)."""

    values: np.ndarray
    scale: ColourScale
    name: str


Cell = Picture | MapCell | None  # None: an empty cell (say, the original image's perturbation-free changes)


@dataclass(frozen=True)
class GridRow:
    """One row of the grid: its cells, one per column, and the markdown beside them."""

    cells: Sequence[Cell]
    text: str


def _png_uri(rgb: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(rgb)).decode()


def _trace(cell: Picture | MapCell) -> go.Image | go.Heatmap:
    if isinstance(cell, Picture):  # sent as a PNG: a tenth of the size of its pixel values
        return go.Image(source=_png_uri(cell.rgb), hovertemplate=f"{cell.name}<br>x %{{x}}, y %{{y}}<extra></extra>")
    low, high = cell.scale.ends()
    return go.Heatmap(z=np.asarray(cell.values, dtype=np.float32), zmin=low, zmax=high,
                      zmid=0 if cell.scale.signed else None, showscale=False,
                      colorscale=PLOTLY_SCALE if cell.scale.signed else PLOTLY_UNSIGNED_SCALE,
                      hovertemplate=f"{cell.name}<br>x %{{x}}, y %{{y}}: %{{z:.3g}}<extra></extra>")


def row_figure(cells: Sequence[Cell], titles: Sequence[str] | None = None, cell: int = CELL) -> go.Figure:
    """One row of cells side by side as one figure, square pixels, no axes; ``titles`` above the columns."""
    fig = make_subplots(rows=1, cols=len(cells), horizontal_spacing=SPACING,
                        subplot_titles=list(titles) if titles else None)
    for i, item in enumerate(cells, start=1):
        if item is not None:
            fig.add_trace(_trace(item), row=1, col=i)
        fig.update_xaxes(visible=False, constrain="domain", row=1, col=i)
        fig.update_yaxes(visible=False, constrain="domain", autorange="reversed", scaleanchor=f"x{'' if i == 1 else i}",
                         scaleratio=1, row=1, col=i)
    fig.update_annotations(font=dict(size=11, color="#31333F"), yshift=2)  # the column titles
    top = TITLE if titles else 0
    fig.update_layout(height=cell + top + 4, margin=dict(l=0, r=0, t=top, b=4), showlegend=False,
                      paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
    return fig


# Small text beside the rows; on a narrow screen the rows keep the width of small cells and scroll sideways,
# instead of shrinking each cell to a thumbnail
GRID_CSS = """<style>
.st-key-{key} [data-testid=stMarkdownContainer] p {{ font-size: 0.8rem; line-height: 1.3; margin-bottom: 0.1rem; }}
.st-key-{key} [data-testid=stMarkdownContainer] .katex {{ font-size: 1em; }}
@media (max-width: 640px) {{
  .st-key-{key} [data-testid=stColumn]:has(.stPlotlyChart) {{ overflow-x: auto; }}
  .st-key-{key} .stElementContainer:has(.stPlotlyChart) {{ min-width: {min_width}px; }}
}}
</style>"""


def draw_grid(columns: Sequence[str], rows: Sequence[GridRow], key: str, cell: int = CELL,
              text_share: float = 0.3) -> None:
    """The grid: the column titles above the first row, each row's figure (key ``<key>_row<i>``) with its
    text beside it (``text_share`` of the width), in one container (key ``key``)."""
    with st.container(key=key, gap="small"):
        st.html(GRID_CSS.format(key=key, min_width=int(len(columns) * min(cell, CELL) * (1 + SPACING))))
        for i, row in enumerate(rows):
            pictures, text = st.columns([1 - text_share, text_share], gap="small", vertical_alignment="center")
            with pictures:
                st.plotly_chart(row_figure(row.cells, columns if i == 0 else None, cell), width="stretch",
                                key=f"{key}_row{i}", config=_TOOLBAR)
            with text:
                st.markdown(row.text)
