"""The Attributes page: a digit clean and attacked, what a standard or an adversarially trained model's SJE
predicts of its attributes, whether the image carries them (``page.py``; ``settings.py``: the sidebar;
``single.py``: one digit's panels; ``study.py``: Figures 4, 5, 7 and 9 over many digits)."""

TITLE = "Attributes"
ICON = ":material/category:"
ORDER = 30
SUMMARY = ("Why an attacked digit is misread, in attributes measured on the digit itself (holes, stroke ends, "
           "slant, ...): SJE's predictions clean and adversarial, grounded where the image carries them, for a "
           "standard and an adversarially trained model; the paper's Figures 4, 5, 7 and 9.")
