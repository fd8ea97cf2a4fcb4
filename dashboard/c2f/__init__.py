"""The Coarse-to-fine attacks study page: ``page.py`` (the script), ``settings.py`` (the form), ``comparison.py`` and
``sections.py`` (one image before and after the attacks), ``table.py`` (the poster's table)."""
