"""The GSE study page (``page.py``): one image attacked by GSE, StrAttack, FWnucl and FBS side by side in the
compact grid (the talk's Figure 3 with the class activation map beside it), and the interpretability score
against the percentile nu (Figure 2) from a study run."""

TITLE = "GSE and sparse attacks"
ICON = ":material/grain:"
ORDER = 50
SUMMARY = ("Group-wise sparse attacks: GSE beside StrAttack, FWnucl and plain FBS on one image (changed pixels in "
           "red, perturbations x5, the class activation map), their sparsity figures, and IS against nu.")
