"""The layering the project keeps: ``core`` never imports Streamlit (nor the dashboard), the command
line loads only the chosen command, and there is one version number."""
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import core

ROOT = Path(__file__).resolve().parents[1]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_core_never_imports_streamlit_or_the_dashboard():
    every = "import pkgutil, importlib, core\n" \
            "for m in pkgutil.walk_packages(core.__path__, 'core.'):\n    importlib.import_module(m.name)"
    loaded = _modules_after(every)
    assert "core.studies.c2f" in loaded and "core.commands.c2f" in loaded  # every module was imported
    assert not {m for m in loaded if m.split(".")[0] in ("streamlit", "dashboard")}
    sources = [p for p in (ROOT / "core").rglob("*.py") if "streamlit" in p.read_text()]
    assert not sources, sources  # not even in a function body that the imports above would not run


def test_the_command_line_loads_only_the_chosen_command():
    loaded = _modules_after("from core.__main__ import build_parser\nbuild_parser(['models']).parse_args(['models'])")
    assert "core.commands.c2f" in loaded and "core.studies.c2f" not in loaded and "zennit" not in loaded


def test_one_version_number():
    assert metadata.version("xadv") == core.__version__


# core's layers, bottom up: a module may import its own layer and those below, never one above
LAYERS = [{"__init__", "errors", "validate", "precision", "serialize", "wording", "provenance", "cache", "timings"},
          {"data"}, {"models"}, {"explain"}, {"attacks", "metrics"}, {"attributes", "counterfactuals"},
          {"studies"}, {"commands"}, {"__main__"}]


def test_core_imports_only_downwards():
    import ast

    level = {name: i for i, layer in enumerate(LAYERS) for name in layer}
    upward = []
    for path in (ROOT / "core").rglob("*.py"):
        part = path.relative_to(ROOT / "core").parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                if name.startswith("core."):
                    target = name.split(".")[1]
                    if level[target] > level[part]:
                        upward.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not upward, upward
