"""The command line's commands, one module each, found rather than listed (``python -m core --help``
lists them): a module of this package with ``NAME`` is a command.

A command module has ``NAME`` and ``HELP`` (its line in the list), ``arguments(parser)``, which adds
its flags (and may import what it needs: only the chosen command's run), and ``run(args)``, which
does the work and returns the exit status. A study's ``<study>-eval`` takes its flags from the study's
config (``flags.add_settings``). The helpers beside them (``files``, ``flags``, ``images``,
``progress``) have no ``NAME``. Parsing and errors are in ``core.__main__``.
"""
import importlib
import pkgutil


def _found() -> dict:
    modules = (importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__))
    return {module.NAME: module for module in modules if hasattr(module, "NAME")}


COMMANDS = dict(sorted(_found().items()))
