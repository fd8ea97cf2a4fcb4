"""The Explore page: a model, an image, its prediction and relevance maps (``page.py``)."""

TITLE = "Explore"
ICON = ":material/image_search:"
ORDER = 10
SUMMARY = ("A model and an image, its prediction, and relevance maps by LRP, saliency, integrated gradients and "
           "DeepLIFT SHAP side by side.")
