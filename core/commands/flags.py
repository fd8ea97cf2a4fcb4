"""Flags of the command line: argument types, the help formatter, and a study config's settings as
flags (``add_settings``: one flag per field that carries a ``core.studies.settings.setting``)."""
from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any


class WithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's help ends with its default, where it has one to show (not None, not an off flag)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def count(text: str) -> int:
    """An argument type for counts (steps, candidates, batch size): an integer of at least 1, so that
    argparse's message names the option."""
    value = int(text)  # a ValueError becomes argparse's "invalid count value"
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _type(hint: Any) -> tuple[type, bool]:
    """The element type of a config field's annotation, and whether it is a tuple (several values)."""
    args = [a for a in typing.get_args(hint) if a is not type(None) and a is not Ellipsis]
    if typing.get_origin(hint) is tuple:
        return args[0], True
    return (args[0] if args else hint), False


def add_settings(parser: argparse.ArgumentParser, config: type) -> None:
    """One flag per setting of the dataclass ``config``, with its default and help: booleans as switches,
    tuples as lists (``nargs="+"``), integers as counts (at least 1), names with their choices."""
    hints = typing.get_type_hints(config)
    for f in dataclasses.fields(config):
        if "help" not in f.metadata:
            continue
        flag = f.metadata["flag"] or "--" + f.name.replace("_", "-")
        kind, several = _type(hints[f.name])
        options: dict[str, Any] = {"dest": f.name, "help": f.metadata["help"].replace("%", "%%")}  # argparse formats it
        if kind is bool:  # a switch; one that is on by default also gets its --no- form
            parser.add_argument(flag, action=argparse.BooleanOptionalAction if f.default else "store_true",
                                default=f.default, **options)
            continue
        options |= {"type": count if kind is int else kind, "choices": f.metadata["choices"]}
        if not f.metadata["choices"]:
            options["metavar"] = flag[2:].upper().replace("-", "_")  # --pgd-eps PGD_EPS, not the field's name
        options |= {"nargs": "+", "default": list(f.default)} if several else {"default": f.default}
        parser.add_argument(flag, **options)


def settings_from(args: argparse.Namespace, config: type) -> Any:
    """The config ``add_settings``' flags give (lists become tuples); it checks itself."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(config) if "help" in f.metadata}
    return config(**{name: tuple(v) if isinstance(v, list) else v for name, v in values.items()})


def add_cluster_flags(parser: argparse.ArgumentParser) -> None:
    """``--ray``, ``--workers`` and ``--worker-threads``: an evaluation's chunks on a Ray cluster
    (``core.studies.cluster``)."""
    group = parser.add_argument_group("on a Ray cluster (pip install ray)")
    group.add_argument("--ray", metavar="auto|ADDRESS",
                       help="run the chunks of images as Ray tasks: auto starts a local Ray instance on this machine, "
                            "ADDRESS joins a running cluster (the one `ray start --head` prints)")
    group.add_argument("--workers", type=count, help="tasks at once (default: the cluster's GPUs, else its CPUs)")
    group.add_argument("--worker-threads", type=count, default=1, help="CPU threads per task where there is no GPU")
