"""The command line: ``python -m core STUDY ...``. Run ``python -m core --help`` for the list."""
from __future__ import annotations

import argparse
import sys

from core.commands import COMMANDS
from core.commands.flags import WithDefaults, add_cluster_flags
from core.errors import InputError, UnsupportedError, WeightsUnavailableError


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command; given ``argv``, only the chosen command's flags are added (its module
    may import much: the others are not loaded for nothing)."""
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    chosen = None if argv is None else next((a for a in argv if a in COMMANDS), "")
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.HELP, description=command.HELP, formatter_class=WithDefaults)
        if chosen is None or chosen == name:
            command.arguments(p)
            if name.endswith("-eval"):
                add_cluster_flags(p)
        p.set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        return _run(args) or 0
    except (InputError, UnsupportedError, WeightsUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as exc:  # numpy's MemoryError; torch's "out of memory" is a RuntimeError
        said = str(exc).strip()
        if isinstance(exc, RuntimeError) and "out of memory" not in said and "can't allocate memory" not in said:
            raise
        print(f"error: out of memory ({said.splitlines()[0][:200] if said else type(exc).__name__}). Ask for less "
              "at once: a smaller --batch-size (c2f-eval), or fewer n_steps, an internal_batch_size or fewer "
              "n_baselines (explain).", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no output written (results computed so far stay in the result cache)", file=sys.stderr)
        return 130


def _run(args) -> int | None:
    """The command, inside a Ray session where ``--ray`` asks for one (only then is Ray imported)."""
    if getattr(args, "ray", None) is None:
        if getattr(args, "workers", None) is not None:
            raise InputError("--workers needs --ray (auto or a cluster's address).")
        return args.run(args)
    from core.studies.cluster import session

    with session(args.ray, args.workers, args.worker_threads):
        return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
