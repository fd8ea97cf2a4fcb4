"""The dashboard on a phone: no chart toolbars on touch screens (there they stand over every chart's
title, since nothing hovers), and the sidebar closed once a page is chosen from it (Streamlit leaves it
open over the page). Our own constant code, so its script may run."""
from __future__ import annotations

import streamlit as st

_PHONE = """<style>@media (hover: none) {{ .modebar-container {{ display: none !important; }} }}</style>
<script>
setTimeout(() => {{
  const page = "{page}", before = sessionStorage.getItem("xadv-page");
  sessionStorage.setItem("xadv-page", page);
  if (before === null || before === page || window.innerWidth >= 768) return;
  const close = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
  if (close) close.click();
}}, 300);
</script>"""


def phone_layout(page: str) -> None:
    """The phone rules for the page shown, named ``page`` (the sidebar closes when this name changes)."""
    st.html(_PHONE.format(page=page), unsafe_allow_javascript=True)
