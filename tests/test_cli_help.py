"""Every command's --help prints (argparse formats help strings with %, so a setting's "20 %" once broke it)."""
import argparse

import pytest

from core.__main__ import build_parser
from core.commands import COMMANDS


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_commands_help_prints_with_its_settings(name):
    parser = build_parser([name])
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    text = sub.choices[name].format_help()
    assert text.startswith(f"usage: python -m core {name}")
    if name.endswith("-eval"):
        assert "--ray auto|ADDRESS" in text and "--workers" in text  # every evaluation can run on a cluster
