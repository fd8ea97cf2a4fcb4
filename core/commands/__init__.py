"""The command line's commands, one module each (``python -m core --help`` lists them).

A command module has ``NAME`` and ``HELP`` (its line in the list), ``arguments(parser)``, which adds
its flags (and may import what it needs: only the chosen command's run), and ``run(args)``, which
does the work and returns the exit status. A study's ``<study>-eval`` takes its flags from the study's
config (``flags.add_settings``). Parsing and errors are in ``core.__main__``.
"""
from core.commands import c2f, explain, models, train

COMMANDS = {command.NAME: command for command in (models, explain, c2f, train)}
