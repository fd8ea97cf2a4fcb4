"""Counterfactual explanations: S-CFE (``scfe``) and its baselines DCFE (``dcfe``) and CEM (``cem``), their
actionable sets, proximal operators, solver, density models and figures."""
