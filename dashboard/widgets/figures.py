"""Plotly figures in the dashboard's layout (relevance heatmaps on their ``ColourScale``, images, class
probabilities), drawn with ``show`` in rows of cells; and the colour-scale widgets of the maps."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.explain.heatmap import PLOTLY_SCALE, PLOTLY_UNSIGNED_SCALE, ColourScale

SIGN_HELP = ("Red: positive relevance, the pixel speaks for the target class. Blue: negative relevance, "
             "it speaks against it. White: no contribution.")
RELEVANCE_HELP = SIGN_HELP + " Saliency (the absolute gradient) has no sign: white (0) to red."

_MARGIN = dict(l=4, r=4, t=30, b=44)  # the bottom strip holds a heatmap's colour bar (kept on images too)
_TITLE_LINE = 18  # px per further title line


def _frame(fig: go.Figure, title: str, height: int, title_lines: int = 1) -> go.Figure:
    """Title on top (room for ``title_lines`` lines, so figures side by side line up), no axes."""
    fig.update_layout(title=dict(text=title, x=0.5, xanchor="center", yref="paper", y=1, yanchor="bottom",
                                 pad=dict(b=6), font=dict(size=14)),  # lines stack upwards from the picture
                      margin=dict(_MARGIN, t=_MARGIN["t"] + _TITLE_LINE * (title_lines - 1)), height=height)
    fig.update_xaxes(visible=False, showticklabels=False, constrain="domain")
    fig.update_yaxes(visible=False, showticklabels=False, scaleanchor="x", scaleratio=1,
                     autorange="reversed", constrain="domain")
    return fig


def _compact(value: float) -> str:
    """Two significant digits with a short exponent: 4.4e-5, not 4.4e-05 (colour bar ends are narrow)."""
    mantissa, e, exponent = f"{value:.2g}".partition("e")
    return f"{mantissa}e{int(exponent)}" if e else mantissa


def heatmap_figure(map2d: np.ndarray, scale: ColourScale | float, title: str, height: int = 320,
                   title_lines: int = 1) -> go.Figure:
    """A relevance map in image orientation on its colour scale: diverging over [-limit, limit] centred at
    zero, or white to red over [0, limit] for an unsigned scale (a plain number: a signed scale's limit)."""
    scale = scale if isinstance(scale, ColourScale) else ColourScale(float(scale))
    low, high = scale.ends()
    ticks = ([low, 0, high], [f"−{_compact(high)}", "0", f"+{_compact(high)}"]) if scale.signed else \
        ([0, high], ["0", f"+{_compact(high)}"])
    fig = go.Figure(go.Heatmap(
        z=np.asarray(map2d, dtype=np.float32), colorscale=PLOTLY_SCALE if scale.signed else PLOTLY_UNSIGNED_SCALE,
        zmin=low, zmax=high, zmid=0 if scale.signed else None,
        colorbar=dict(orientation="h", x=0.5, xanchor="center", y=-0.02, yanchor="top", thickness=8,
                      len=0.7,  # leaves room for the end labels in a narrow column
                      tickvals=ticks[0], ticktext=ticks[1], tickfont=dict(size=10), outlinewidth=0),
        hovertemplate="x %{x}, y %{y}<br>relevance %{z:.3g}<extra></extra>",
    ))
    return _frame(fig, title, height, title_lines)


def image_figure(rgb: np.ndarray, title: str, height: int = 320, beside_heatmaps: bool = True,
                 title_lines: int = 1) -> go.Figure:
    """A uint8 image (H, W, 3) or grayscale (H, W) / (H, W, 1), same layout as ``heatmap_figure``
    (``beside_heatmaps`` keeps the strip for their colour bar free, so the pictures line up)."""
    rgb = np.asarray(rgb)
    if rgb.ndim == 2:
        rgb = rgb[:, :, None]
    if rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    fig = go.Figure(go.Image(z=rgb, hovertemplate="x %{x}, y %{y}<br>rgb %{z}<extra></extra>"))
    fig = _frame(fig, title, height, title_lines)
    if not beside_heatmaps:
        fig.update_layout(margin=dict(b=4))
    return fig


def probability_figure(names: Sequence[str], probabilities: Sequence[float], title: str | None = None,
                       highlight: int | None = 0, height: int | None = None) -> go.Figure:
    """Horizontal bars of class probabilities, first row on top; ``highlight`` marks one bar."""
    colours = ["#b2182b" if i == highlight else "#8c96a8" for i in range(len(names))]
    fig = go.Figure(go.Bar(
        x=list(probabilities), y=list(names), orientation="h", marker_color=colours,
        text=[f"{p:.1%}" for p in probabilities], textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:.2%}<extra></extra>",
    ))
    top = min(1.0, max(list(probabilities) + [0.01]) * 1.25)  # room for the labels, never past 100 % (then a margin)
    fig.update_layout(
        title=dict(text=title, font=dict(size=14)) if title else None,
        height=height or 60 + 30 * len(names), margin=dict(l=4, r=40, t=32 if title else 4, b=4),  # r: "55.4%"
        xaxis=dict(range=[0, top], tickformat=".0%", title=None, nticks=4, tickangle=0),  # upright in narrow columns
        yaxis=dict(type="category", autorange="reversed", title=None),  # names like "3" stay labels
        showlegend=False, bargap=0.25,
    )
    return fig


FIGURE_CELL = 152  # px: Streamlit draws a Plotly chart at least 150 px wide, and a narrower column crops it


def row_cells(widths: Sequence[int | None]) -> list:
    """One row of cells, ``widths`` in px (None: the room left), that wraps onto further lines where the
    page is narrow; ``st.columns`` would squeeze charts below 150 px and crop their right side."""
    row = st.container(horizontal=True, gap="small")
    return [row.container(width="stretch" if w is None else w) for w in widths]


# Plotly's toolbar sits over a figure's title while the pointer is on it; in the narrow map panels its
# full set wrapped into two rows over the title. Box zoom, reset and PNG download stay.
_TOOLBAR_LEFT_OUT = ["select2d", "lasso2d", "pan2d", "zoomIn2d", "zoomOut2d", "autoScale2d"]


def show(fig: go.Figure, key: str | None = None) -> None:
    """``st.plotly_chart`` with the dashboard's settings (stretch to the column, small toolbar)."""
    st.plotly_chart(fig, width="stretch", key=key,
                    config={"displaylogo": False, "modeBarButtonsToRemove": _TOOLBAR_LEFT_OUT})


SCALE_PERCENTILES = (90.0, 95.0, 99.0, 99.5, 99.9, 100.0)


def scale_percentile_slider(key: str, default: float = 99.5) -> float:
    """Where the colour scale ends: a percentile of |relevance| (100 = the largest value). Moving it
    while the page computes (an attack, say) does not cut that short, as a widget would: the slider
    sits in a fragment, whose reruns Streamlit queues behind a running script, and the fragment then
    reruns the page with the new value."""
    drawn = f"_drawn_{key}"
    st.session_state[drawn] = st.session_state.get(key, default)  # the value this run of the page draws with
    _percentile_fragment(key, default, drawn)
    return st.session_state[key]


@st.fragment
def _percentile_fragment(key: str, default: float, drawn: str) -> None:
    value = st.select_slider(
        "Colour scale ends at percentile of |relevance|", SCALE_PERCENTILES, value=default, key=key,
        format_func=lambda p: f"{p:g}",
        help="A few extreme pixels can make a map look blank at 100 (the maximum); lower percentiles "
             "saturate those pixels and show the rest. Only the display and the PNG change, not the data.")
    if value != st.session_state[drawn]:  # moved: a fragment rerun, after any running script has ended
        st.rerun(scope="app")
