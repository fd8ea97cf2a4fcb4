"""xadv dashboard: ``streamlit run dashboard/app.py``. One page per study, each its own package (see
``dashboard.registry``)."""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run` puts only dashboard/ on the path; pages import dashboard.*
    sys.path.insert(0, str(ROOT))

from dashboard.registry import pages  # noqa: E402 -- needs the path above
from dashboard.widgets.layout import phone_layout  # noqa: E402
from dashboard.widgets.state import keep_page_settings  # noqa: E402

st.set_page_config(page_title="xadv", layout="wide")

# every dashboard/<name>/page.py, at /<name>, the start page first (dashboard.registry); <name> prefixes its widget keys
PAGES = {info.name: st.Page(info.script, title=info.title, icon=info.icon, url_path=info.name,
                            default=info.name == "start") for info in pages()}


def sidebar_footer() -> None:
    """Where models run, and that results are kept (kept at the bottom of the sidebar). Not the cache's
    folder: that is the server's business ($XADV_CACHE_DIR), and a visitor's screen need not show it."""
    import core

    footer = st.sidebar.container(key="xadv-footer")
    # Pages draw their sidebar after this container and may st.stop(); CSS moves it last instead.
    st.html("<style>div:has(> .st-key-xadv-footer) { order: 999; margin-top: 1.5rem; }</style>")
    footer.caption(f"Models run on the server's `{core.device().type}`; every attack and map is kept in its "
                   "result cache, so a repeat takes seconds.")


page = st.navigation(list(PAGES.values()))
phone_layout(page.url_path)
sidebar_footer()
keep_page_settings(tuple(f"{study}_" for study in PAGES))
page.run()
