"""The Coarse-to-fine attacks study page: ``page.py`` (the script), ``settings.py`` (the form), ``comparison.py`` and
``sections.py`` (one image before and after the attacks), ``table.py`` (the poster's table)."""

TITLE = "Coarse-to-fine attacks"
ICON = ":material/account_tree:"
ORDER = 20
SUMMARY = ("The LRP poster's attack on a coarse-to-fine classifier (LRPC, LRPF) beside DeepFool and PGD: the "
           "maps before and after, and the poster's Tables 1 and 2.")
