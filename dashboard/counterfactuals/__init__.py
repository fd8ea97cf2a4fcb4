"""The Counterfactuals page: S-CFE's sparse, plausible counterfactual of one row beside DCFE and CEM
(``page.py``; ``resources.py``: the data sets' models, densities and LOF, loaded once per server)."""

TITLE = "Counterfactuals"
ICON = ":material/compare_arrows:"
ORDER = 60
SUMMARY = ("S-CFE: what to change, in few features, to get another decision, staying where the target class's "
           "data lie; beside DCFE and CEM on Housing, Wine, Breast Cancer and MNIST.")
