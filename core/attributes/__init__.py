"""What the attribute study needs beyond attacks and figures: attributes measured on digits
(``morphometry``), class-attribute matrices (``matrix``), a classifier's features and new heads on them
(``features``), SJE (``sje``), grounding (``grounding``), the paper's distances and robust ratio
(``figures``) and the user's own attribute data sets (``datasets``)."""
