"""Counterfactuals (seed 003, S-CFE): one row's counterfactual by S-CFE beside DCFE and CEM.

Thin page script: the methods and figures come from ``core.counterfactuals``, the parsing of typed rows and
the 2-D view from ``core.studies.cfe_view``. The last run lives in ``st.session_state`` with what it ran on.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from core.counterfactuals.actionable import ActionableSet
from core.counterfactuals.cem import cem
from core.counterfactuals.dcfe import dcfe
from core.counterfactuals.metrics import l2
from core.counterfactuals.scfe import scfe
from core.errors import InputError
from core.explain.heatmap import ColourScale
from core.studies.cfe import DATASETS, MODEL
from core.studies.cfe_view import changes, format_row, parse_row, pca_view
from dashboard.counterfactuals.resources import dataset_task, density, lof
from dashboard.widgets.figures import show
from dashboard.widgets.grid import GridRow, MapCell, Picture, draw_grid
from dashboard.widgets.runs import status_slot, visible_run

RESULT = "counterfactuals_result"
LABELS = {"housing": "Boston Housing (12 features)", "wine": "Wine (13 features)",
          "cancer": "Breast Cancer Wisconsin (30 features)", "mnist": "MNIST digits (784 pixels)"}
DENSITIES = {"kde": "KDE", "gmm": "GMM", "knn": "k-NN gravity"}
COLOURS = {"S-CFE": "#d62728", "DCFE": "#1f77b4", "CEM": "#2ca02c"}

HELP = r"""
**S-CFE** looks for the row $y$ nearest your row $x$ that the model puts in the target class $t$, by accelerated
proximal gradient on $L(y,t) + \lambda(\|y-x\|_2^2 - \tau\,\hat q(y,t))$ with $y$ kept in the actionable set $A$
(feature ranges, locks, one-sided bounds) and at most $m$ features changed (eq. 4; or $\beta\|y-x\|_0$, eq. 3).
$\hat q$ is a density of the target class's training rows (KDE, GMM, or the pull to a dense spot among its
k nearest rows): it keeps $y$ where such rows lie. $\lambda$ is searched per row; the valid answer nearest $x$
is kept. **DCFE** has a GMM density constraint and no sparsity term (dense); **CEM** an elastic net.
Distances are in standard units of the training rows (pixels for MNIST). **LOF** near 1: among the target
class's rows; well above 1: an outlier.
"""


@dataclass(frozen=True)
class Run:
    """One run: what it ran on (``context``), the row, and each method's result."""

    context: tuple
    x: torch.Tensor
    results: dict


def sidebar():
    with st.sidebar:
        st.subheader("Data")
        dataset = st.selectbox("Data set", DATASETS, format_func=LABELS.get, key="counterfactuals_dataset",
                               help=f"Each with its model ({', '.join(MODEL.values())}).")
        t = dataset_task(dataset)
        source = "row"
        if dataset != "mnist":
            source = st.radio("Row", ["row", "typed"], key="counterfactuals_source", horizontal=True,
                              format_func={"row": "A test row", "typed": "Typed values"}.get)
        index = st.number_input("Test row", 0, len(t.x) - 1, 0, key=f"counterfactuals_row_{dataset}")
        return dataset, t, source, int(index)


def typed_row(t, index: int, refusal) -> torch.Tensor | None:
    st.caption("Values in the features' order and units: " + ", ".join(
        f"{n} ({u})" for n, u in zip(t.actionable.names, _units(t))))
    text = st.text_area("Values", format_row(t.x[index].cpu()), key=f"counterfactuals_typed_{t.model_id}", height=90)
    try:
        return parse_row(text, t.actionable).to(t.x.device)
    except InputError as exc:
        refusal.error(f"{exc} Nothing was run.")
        return None


def _units(t) -> tuple[str, ...]:
    return tuple(t.model_input.units)


def form(dataset: str, t, x: torch.Tensor):
    with st.form("counterfactuals_form"):
        with torch.no_grad():
            before = int(t.model(x).argmax(1))
        names = t.class_names
        st.markdown(f"The model puts this row in **{names[before]}**.")
        c1, c2, c3, c4 = st.columns(4)
        target = c1.selectbox("Target class", range(len(names)), index=(before + 1) % len(names),
                              format_func=lambda i: names[i], key=f"counterfactuals_target_{dataset}")
        m = c2.number_input("m: features S-CFE may change", 1, x.shape[1], 25 if dataset == "mnist" else 2,
                            key=f"counterfactuals_m_{dataset}")
        kinds = ["gmm", "knn"] if dataset == "mnist" else list(DENSITIES)
        kind = c3.selectbox("Density model", kinds, format_func=DENSITIES.get, key=f"counterfactuals_density_{dataset}")
        methods = c4.multiselect("Beside S-CFE", ["DCFE", "CEM"], ["DCFE", "CEM"], key="counterfactuals_methods")
        c1, c2, c3, c4 = st.columns(4)
        lam = c1.number_input("lambda (first of the search)", 1e-4, 1e4, 1.0, format="%g", key="counterfactuals_lam")
        tau = c2.number_input("tau (plausibility)", 0.0, 100.0, 0.001 if dataset == "mnist" else 0.1, format="%g",
                              key=f"counterfactuals_tau_{dataset}",
                              help="cfe-eval's defaults: 1 for KDE, 0.01 for GMM (MNIST 0.001), 0.1 for k-NN.")
        beta = c3.number_input("beta (eq. 3: 0 uses m, eq. 4)", 0.0, 100.0, 0.0, format="%g",
                               key="counterfactuals_beta")
        steps = c4.number_input("APG steps", 10, 1000, 100, key="counterfactuals_steps")
        locked = increase = decrease = ()
        if dataset != "mnist":
            c1, c2, c3 = st.columns(3)
            features = list(t.actionable.names)
            locked = c1.multiselect("Locked features", features, key=f"counterfactuals_locked_{dataset}")
            increase = c2.multiselect("May only increase", features, key=f"counterfactuals_increase_{dataset}")
            decrease = c3.multiselect("May only decrease", features, key=f"counterfactuals_decrease_{dataset}")
        submitted = st.form_submit_button("Find counterfactuals", type="primary")
    settings = dict(target=target, m=int(m), kind=kind, methods=tuple(methods), lam=float(lam), tau=float(tau),
                    beta=float(beta), steps=int(steps), locked=tuple(locked), increase=tuple(increase),
                    decrease=tuple(decrease))
    return submitted, settings


def run(dataset: str, t, x: torch.Tensor, s: dict, progress) -> dict:
    space = t.actionable if dataset == "mnist" else ActionableSet.of(
        t.model_input, locked=s["locked"], increase=s["increase"], decrease=s["decrease"])
    target = torch.tensor([s["target"]], device=x.device)
    jobs = {"S-CFE": lambda p: scfe(t.model, x, actionable=space, target=target, density=density(dataset, s["kind"]),
                                    m=None if s["beta"] > 0 else s["m"], beta=s["beta"], lam=s["lam"], tau=s["tau"],
                                    steps=s["steps"], progress=p)}
    if "DCFE" in s["methods"]:
        jobs["DCFE"] = lambda p: dcfe(t.model, x, actionable=space, target=target, density=density(dataset, "gmm"),
                                      lam=s["lam"], steps=s["steps"], progress=p)
    if "CEM" in s["methods"]:
        jobs["CEM"] = lambda p: cem(t.model, x, actionable=space, target=target, steps=s["steps"], progress=p)
    out = {}
    for k, (name, job) in enumerate(jobs.items()):
        out[name] = job(lambda f, msg, k=k, name=name: progress((k + f) / len(jobs), f"{name}: {msg}"))
    return out


def figures_table(dataset: str, t, x: torch.Tensor, results: dict, kind: str):
    q = density(dataset, kind)
    lofs = lof(dataset)
    rows = []
    for name, r in results.items():
        z_x, z_y = t.actionable.to_z(x), t.actionable.to_z(r.x_adv)
        target = r.labels["target"]
        with torch.no_grad():
            plaus = float(q.bind(z_x, target)(z_y)[0])
        rows.append({"method": name, "valid": bool(r.success[0]),
                     "decision": t.class_names[int(r.labels["after"][0])],
                     "features changed": int((r.x_adv != x).sum()),
                     "l2 (pixels)" if dataset == "mnist" else "l2 (standard units)": round(float(l2(z_x, z_y)[0]), 3),
                     f"q̂ ({DENSITIES[kind]})": round(plaus, 3), "LOF": round(float(lofs(z_y, target)[0]), 3)})
    st.dataframe(rows, hide_index=True, width="stretch")


def tabular_views(dataset: str, t, x: torch.Tensor, results: dict, kind: str) -> None:
    units = _units(t)
    figures_table(dataset, t, x, results, kind)
    tabs = st.tabs(list(results))
    for tab, (name, r) in zip(tabs, results.items()):
        with tab:
            changed = changes(x.cpu(), r.x_adv.cpu(), t.actionable, units)
            if not changed:
                st.info(f"{name} changed nothing (no valid counterfactual found).")
                continue
            st.dataframe([{"feature": c.feature, "unit": c.unit, "from": round(c.before, 4), "to": round(c.after, 4),
                           "change (standard units)": round(c.z_change, 3)} for c in changed],
                         hide_index=True, width="stretch")
    left, right = st.columns(2)
    with left:
        fig = go.Figure()
        dz = {n: (t.actionable.to_z(r.x_adv) - t.actionable.to_z(x))[0].cpu().numpy() for n, r in results.items()}
        for name, v in dz.items():
            fig.add_bar(x=list(t.actionable.names), y=v, name=name, marker_color=COLOURS[name])
        fig.update_layout(title="Changes per feature (standard units)", barmode="group", height=380,
                          margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h"))
        show(fig, key="counterfactuals_bars")
    with right:
        target = int(next(iter(results.values())).labels["target"][0])
        points = [t.actionable.to_z(x)] + [t.actionable.to_z(r.x_adv) for r in results.values()]
        train, projected, share = pca_view(t.z_train, *points)
        y = t.y_train.cpu().numpy()
        fig = go.Figure()
        for c in np.unique(y):
            fig.add_scatter(x=train[y == c, 0], y=train[y == c, 1], mode="markers",
                            name=t.class_names[c] + (" (target)" if c == target else ""),
                            marker=dict(size=5, opacity=0.55 if c == target else 0.3,
                                        color="#ff7f0e" if c == target else "#9e9e9e"))
        fig.add_scatter(x=projected[0][:, 0], y=projected[0][:, 1], mode="markers", name="your row",
                        marker=dict(size=13, color="black", symbol="x"))
        for (name, _), p in zip(results.items(), projected[1:]):
            fig.add_scatter(x=p[:, 0], y=p[:, 1], mode="markers", name=name,
                            marker=dict(size=13, color=COLOURS[name], symbol="star"))
        fig.update_layout(title=f"PCA of the training rows (axes {share[0]:.0%}, {share[1]:.0%} of the variance)",
                          height=380, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h"))
        show(fig, key="counterfactuals_pca")


def mnist_views(dataset: str, t, x: torch.Tensor, results: dict, kind: str) -> None:
    figures_table(dataset, t, x, results, kind)
    digit = (x.view(28, 28).cpu().numpy() * 255).astype(np.uint8)
    rows = []
    for name, r in results.items():
        cf = r.x_adv.view(28, 28).cpu().numpy()
        change = cf - x.view(28, 28).cpu().numpy()
        scale = ColourScale(float(max(np.abs(change).max(), 1e-6)), True, 100.0, "own scale")
        rows.append(GridRow([Picture(digit, "your digit"), Picture((cf * 255).astype(np.uint8), f"{name}"),
                             MapCell(change, scale, "changed pixels")],
                            f"**{name}**: {t.class_names[int(r.labels['after'][0])]}, "
                            f"{int((r.x_adv != x).sum())} pixels changed, scale ±{scale.limit:.2f}"))
    draw_grid(["digit", "counterfactual", "changed pixels (red +, blue −)"], rows, key="counterfactuals_grid")


def main() -> None:
    st.title("Counterfactuals: S-CFE beside DCFE and CEM", anchor=False)
    status = status_slot()
    st.caption("What would have to change, in as few features as possible, for the model to decide otherwise, "
               "staying where the target class's data lie?")
    dataset, t, source, index = sidebar()
    with st.expander("How to read this page"):
        st.markdown(HELP)
    refusal = st.empty()
    x = t.x[index:index + 1] if source == "row" else typed_row(t, index, refusal)
    if x is None:
        return
    submitted, settings = form(dataset, t, x)
    context = (dataset, tuple(x.flatten().tolist()), tuple(sorted(settings.items())))
    if submitted:
        try:
            with visible_run(status, "counterfactuals", f"Counterfactuals on {LABELS[dataset]}", None) as progress:
                st.session_state[RESULT] = Run(context, x, run(dataset, t, x, settings, progress))
        except InputError as exc:
            st.error(str(exc))
    shown = st.session_state.get(RESULT)
    if shown is None or shown.context[:2] != context[:2]:
        st.info("Press **Find counterfactuals** to explain this row.")
        return
    if shown.context != context:
        st.caption(":orange[Shown: the last run, with other settings; press Find counterfactuals for these.]")
    views = mnist_views if dataset == "mnist" else tabular_views
    views(dataset, t, shown.x, shown.results, dict(shown.context[2])["kind"])


main()
