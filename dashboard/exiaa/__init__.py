"""The eXIAA page: one image attacked through the model's answers alone, beside the Gaussian baseline
(``page.py``; ``settings.py``: the model, image and pool; ``single.py``: the one attack and its grid;
``study.py``: the grid of alpha x top-k, the paper's Table 1 and Figures 2-5)."""

TITLE = "eXIAA"
ICON = ":material/syringe:"
ORDER = 40
SUMMARY = ("A black-box one-step attack on explanations: features of a running-up class's image injected into "
           "yours, how far saliency, integrated gradients and DeepLIFT SHAP move, beside Gaussian noise; the "
           "paper's Table 1 and Figures 2-5.")
