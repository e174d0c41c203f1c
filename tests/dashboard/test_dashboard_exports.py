"""The package's public names are deliberate: sorted, complete, and free of Streamlit."""

from __future__ import annotations

import inspect
import subprocess
import sys

import dashboard


def test_all_is_sorted_and_complete() -> None:
    public = {
        name
        for name, value in vars(dashboard).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert dashboard.__all__ == sorted(dashboard.__all__)
    assert set(dashboard.__all__) == public


def test_importing_the_package_does_not_import_streamlit() -> None:
    code = "import sys, dashboard; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
