"""``python -m core cfe-eval``: the S-CFE talk's Table 3 (S-CFE with a KDE, GMM or k-NN density, DCFE and CEM:
validity, l2, l0, LOF, time, with standard deviations) on a data set's test rows, printed beside the talk's,
with every column's counterfactuals as JSON; ``--robustness`` adds Figure 6's pairs.

The study's settings and their defaults are ``core.studies.cfe.StudyConfig``'s: each is a flag."""
from __future__ import annotations

import time
from pathlib import Path

from core.commands.files import check_writable, write_atomically
from core.commands.flags import add_settings, settings_from
from core.commands.progress import progress_bar

NAME = "cfe-eval"
HELP = "S-CFE talk's Table 3: sparse counterfactuals (S-CFE) beside DCFE and CEM"
OUT = "cfe_results.json"


def arguments(parser) -> None:
    from core.studies import cfe as study

    add_settings(parser, study.StudyConfig)
    parser.add_argument("--robustness", action="store_true",
                        help="also Figure 6: each row perturbed by Gaussian noise (sigma 0.05-0.5, standardised "
                             "units), its counterfactual's distance to the original's against the input's")
    parser.add_argument("--markdown", action="store_true", help="print the tables as markdown")
    parser.add_argument("--out", default=OUT, help="JSON file for the results (missing folders are created)")
    parser.add_argument("--no-cache", action="store_true", help="recompute instead of using the result cache")


def run(args) -> int:
    from core.cache import ResultCache
    from core.serialize import dumps
    from core.studies.cfe import StudyConfig, evaluate, robustness, task

    config = settings_from(args, StudyConfig)  # checked before anything is loaded
    out = Path(args.out)
    check_writable(out, example=OUT)
    t = task(config.dataset, config.n)
    started = time.perf_counter()
    with progress_bar() as progress:
        result = evaluate(config, t=t, cache=None if args.no_cache else ResultCache(), progress=progress)
    print(result.format(markdown=args.markdown))
    report = result.to_dict() | {"seconds": time.perf_counter() - started}
    if args.robustness:
        pairs = robustness(config, t=t)
        report["figure6"] = pairs
        print("\nFigure 6 (mean ||x' - x||_2 -> mean ||y' - y||_2 over rows valid both times):")
        for name, points in pairs.items():
            print(f"{name:>10}: " + ", ".join(f"{p['input_l2']:.2f} -> {p['cfe_l2']:.2f}" for p in points))
    write_atomically(out, dumps(report).encode(), rerun="the methods are cached, so a rerun takes seconds")
    print(f"wrote {out}")
    return 0
