"""The dashboard's pages, found rather than listed: every package ``dashboard/<name>/`` with a
``page.py`` is a page at ``/<name>``, described in its ``__init__.py`` by ``TITLE``, ``ICON``, ``ORDER``
(its place in the sidebar) and ``SUMMARY`` (its card on the start page). A new study page is its
package alone; ``<name>`` prefixes its widget keys."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parent


@dataclass(frozen=True)
class PageInfo:
    name: str  # the package, the URL path and the widget-key prefix
    title: str
    icon: str
    order: int
    summary: str

    @property
    def script(self) -> str:
        """The page script, relative to ``dashboard/`` (``st.Page`` and ``st.page_link`` take it so)."""
        return f"{self.name}/page.py"


def pages() -> list[PageInfo]:
    """Every page package, in sidebar order."""
    found = []
    for script in DASHBOARD.glob("*/page.py"):
        package = importlib.import_module(f"dashboard.{script.parent.name}")
        found.append(PageInfo(script.parent.name, package.TITLE, package.ICON, package.ORDER, package.SUMMARY))
    return sorted(found, key=lambda page: page.order)
