"""Speed of the counterfactual methods (``core.counterfactuals``) on the same rows in one run.

1. Batched S-CFE against S-CFE one row at a time: the Wine test split's first ``batch`` rows (default 100) in
   one call against ``SINGLE`` of them one call each; both reported per row (the call's time / its rows).
   Target: ratio <= 0.10 (batched at least 10x faster per row), the issue's.
2. S-CFE (k-NN density) against DCFE and against CEM on the same ``batch`` rows, as one batch each: time per
   counterfactual, no target (the talk's Table 3 reports the three side by side).

All at the study's defaults (``core.studies.cfe.StudyConfig``: 100 APG steps, 8 search steps; CEM 9).
"""
from __future__ import annotations

import torch

from bench.timing import Comparison, Stats, compare, sync_for
from core.counterfactuals.cem import cem
from core.counterfactuals.dcfe import dcfe
from core.counterfactuals.densities import GMM, KNN
from core.counterfactuals.scfe import scfe
from core.studies.cfe import StudyConfig, task

SINGLE = 10  # rows solved one at a time (their time per row is what counts)


def _per_row(c: Comparison, ours_rows: int, peer_rows: int, target: float | None) -> Comparison:
    return Comparison(c.name, Stats(tuple(t / ours_rows for t in c.ours.times)),
                      Stats(tuple(t / peer_rows for t in c.peer.times)), c.repeats, c.warmup, target,
                      c.notes | {"ours_rows": ours_rows, "peer_rows": peer_rows, "unit": "seconds per row"})


def run(batch: int = 100, repeats: int = 10, warmup: int = 2, device: str | None = None) -> list[Comparison]:
    config = StudyConfig()
    t = task("wine", batch, device=device)
    x, space = t.x, t.actionable
    knn = KNN(t.z_train, t.y_train, k=config.knn_k)
    gmm = GMM(t.z_train, t.y_train, components=config.gmm_components)
    common = dict(actionable=space, kappa=config.kappa, steps=config.steps, search_steps=config.search_steps)
    s_cfe = dict(common, density=knn, m=config.sparsity, tau=config.tau_knn, lam=config.lam, alpha=config.alpha)
    sync = sync_for(x)

    def batched():
        return scfe(t.model, x, **s_cfe)

    def one_at_a_time():
        return [scfe(t.model, x[i:i + 1], **s_cfe) for i in range(min(SINGLE, batch))]

    first = compare(batched, one_at_a_time, repeats, warmup, name=f"S-CFE batched ({batch} rows) vs one row at a time",
                    sync=sync)
    out = [_per_row(first, batch, min(SINGLE, batch), 0.10)]
    for name, peer in (("DCFE", lambda: dcfe(t.model, x, density=gmm, lam=config.lam, alpha=config.alpha,
                                             mu=config.dcfe_mu, quantile=config.dcfe_quantile, **common)),
                       ("CEM", lambda: cem(t.model, x, actionable=space, kappa=config.kappa, steps=config.steps,
                                           search_steps=9, c=config.cem_c, beta=config.cem_beta,
                                           alpha=config.cem_alpha))):
        c = compare(batched, peer, repeats, warmup, name=f"S-CFE_kNN vs {name} ({batch} rows, one batch each)",
                    sync=sync)
        out.append(_per_row(c, batch, batch, None))
    return out


def config(batch: int, device: str | None) -> dict:
    return {"data": "wine test split", "rows": batch, "single_rows": min(SINGLE, batch),
            "device": str(device or torch.device("cpu")), "torch": torch.__version__,
            "settings": "core.studies.cfe.StudyConfig defaults"}


def from_args(args) -> tuple[dict, list[Comparison], str]:
    """``python -m bench cfe``: ``--batch`` rows (default 100)."""
    batch = args.batch or 100
    return config(batch, args.device), run(batch=batch, repeats=args.repeats, warmup=args.warmup,
                                           device=args.device), "peer"
