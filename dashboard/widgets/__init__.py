"""Small Streamlit widgets shared by the dashboard's pages, one module per job (import from the module):

- ``models``: model picking and loading, own weights, availability, hierarchies, predictions and decisions;
- ``images``: the image picker, uploaded images, the line on how an image was fitted to the model;
- ``state``: what a session keeps (page settings, uploads, unfinished runs) and the result cache;
- ``figures``: heatmap, image and probability figures, rows of cells, the colour-scale widgets;
- ``explainers``: the explainers' parameter widgets and their captions;
- ``downloads``: download buttons, ZIP archives, file-name stems, progress bars.

Everything here is UI: loading goes through ``core.models.load``, images through ``core.data``, colour
scales through ``core.explain.heatmap``. Nothing is computed at import.
"""
