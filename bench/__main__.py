"""``python -m bench [NAME ...] [--batch N] [--repeats R] [--warmup W] [--device cpu|cuda] [--threads T] [--out DIR]``.

Runs the named benchmarks (all when none is named), prints a table per benchmark and writes
``DIR/<name>.json`` (default ``bench/results``). ``--strict`` exits 1 when a ratio misses its target.
``attacks`` also takes ``--steps`` (PGD steps) and ``--quick`` (its DeepFool comparisons without
warm-up and with one timed round: torchattacks' per-image DeepFool takes minutes per round on a CPU).
"""
from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from pathlib import Path

from bench.timing import Comparison, format_table

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def benchmarks() -> list[str]:
    """Every benchmark: each ``bench/bench_<name>.py``, whose ``from_args(args)`` runs it and returns
    (its config, the comparisons, the label of the peer column). Found by file name, loaded when run."""
    return sorted(path.stem.removeprefix("bench_") for path in Path(__file__).parent.glob("bench_*.py"))


def _run(name: str, args: argparse.Namespace) -> tuple[dict, list[Comparison], str]:
    return importlib.import_module(f"bench.bench_{name}").from_args(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="xadv core against the libraries it wraps.")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run: {', '.join(benchmarks())} (default: all)")
    parser.add_argument("--batch", type=int, default=None,
                        help="images per batch (default: each benchmark's own)")
    parser.add_argument("--repeats", type=int, default=10, help="timed rounds per contender (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds per contender first (default 2)")
    parser.add_argument("--device", choices=("cpu", "cuda", "mps"), default=None,  # core.DEVICE_TYPES
                        help="default: core.device() (CUDA, then MPS, then CPU)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice); 1 is steadier on a busy machine")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"folder for <name>.json (default {DEFAULT_OUT})")
    parser.add_argument("--steps", type=int, default=10, help="attacks: PGD steps (default 10)")
    parser.add_argument("--quick", action="store_true",
                        help="attacks: DeepFool comparisons with no warm-up and one timed round")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a ratio misses its target")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in benchmarks()]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(benchmarks())}")
    if (args.batch is not None and args.batch < 1) or args.repeats < 1 or args.warmup < 0 or args.steps < 1:
        parser.error("--batch, --repeats and --steps must be >= 1, --warmup >= 0")

    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be >= 1")
    import torch

    from core import device_available

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.device is not None and not device_available(args.device):
        parser.error(f"--device {args.device}: this machine has no such device that torch {torch.__version__} "
                     "can use; leave --device out for the best one available")

    failed = False
    for name in args.names or benchmarks():
        batch = args.batch if args.batch is not None else "default"
        print(f"[{name}] batch {batch}, {args.warmup} warm-up + {args.repeats} timed rounds, interleaved")
        started = time.time()
        config, comparisons, peer_label = _run(name, args)
        print(format_table(comparisons, peer_label=peer_label))
        for c in comparisons:
            if c.notes.get("summary"):
                print(f"  {c.name}: {c.notes['summary']}")
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"{name}.json"
        record = {"benchmark": name, "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
                  "seconds": round(time.time() - started, 1), "repeats": args.repeats, "warmup": args.warmup,
                  "platform": platform.platform(), "python": platform.python_version(), "config": config,
                  "comparisons": [c.to_dict() for c in comparisons]}
        path.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {path}")
        failed |= any(c.passed is False for c in comparisons)
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
