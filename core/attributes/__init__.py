"""What the attribute study needs beyond attacks and figures: attributes measured on digits
(``morphometry``), class-attribute matrices (``matrix``), SJE (``sje``), grounding (``grounding``), a
classifier's features (``features``) and the user's own attribute data sets (``datasets``)."""
