"""The start page: what the tool is, one card per study, and the classroom demo (``page.py``; the demo's run
and drawing in ``demo.py``)."""

TITLE = "Start"
ICON = ":material/home:"
ORDER = 0
SUMMARY = "What the tool is, a card per study, and the classroom demo."
