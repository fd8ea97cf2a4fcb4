"""The Explore page: a model, an image, its prediction and relevance maps (``page.py``)."""
