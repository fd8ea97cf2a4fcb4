"""Fixtures shared by several test files."""
import pytest


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A temporary result cache (``XADV_CACHE_DIR``), so tests never touch ~/.cache."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("XADV_CACHE_DIR", str(directory))
    return directory


@pytest.fixture
def attack_calls(monkeypatch):
    """Counts the C2F attacks that really run (``run_attack`` looks its runner up in ``RUNNERS``)."""
    from core.studies import c2f as study

    calls = []
    for name, runner in list(study.RUNNERS.items()):
        def counting(*args, _name=name, _runner=runner, **kwargs):
            calls.append(_name)
            return _runner(*args, **kwargs)

        monkeypatch.setitem(study.RUNNERS, name, counting)
    return calls
