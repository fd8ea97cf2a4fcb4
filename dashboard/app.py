"""xadv dashboard: ``streamlit run dashboard/app.py``. One page per study; add a study to ``PAGES``."""
from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run` puts only dashboard/ on the path; pages import dashboard.*
    sys.path.insert(0, str(ROOT))

from dashboard.widgets.layout import phone_layout  # noqa: E402 -- needs the path above
from dashboard.widgets.state import keep_page_settings  # noqa: E402

st.set_page_config(page_title="xadv", layout="wide")

# study -> its page (dashboard/<study>/page.py, at /<study>); the study's name prefixes its widget keys
PAGES = {
    "start": st.Page("start/page.py", title="Start", icon=":material/home:", url_path="start", default=True),
    "explore": st.Page("explore/page.py", title="Explore", icon=":material/image_search:", url_path="explore"),
    "c2f": st.Page("c2f/page.py", title="Coarse-to-fine attacks", icon=":material/account_tree:", url_path="c2f"),
}


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
