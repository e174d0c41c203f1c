"""Keep ``pytest --doctest-modules`` from importing Streamlit scripts as modules.

``app.py`` and the pages draw a UI and fetch figures when imported; only Streamlit may run
them. ``tests/dashboard`` runs them properly, through ``AppTest``.
"""

collect_ignore = ["app.py"]
collect_ignore_glob = ["app_pages/*.py"]
