"""Import pm4py lazily and quietly: it prints an AGPL banner to stdout when first imported.

The banner would corrupt ``--json`` output of a CLI command and has no place in a log, so
the first import runs with stdout and stderr redirected and pm4py's import-time warnings
ignored. Later imports hit the module cache and print nothing.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from types import ModuleType


@contextlib.contextmanager
def quiet() -> Iterator[io.StringIO]:
    """Run pm4py calls with their progress bars and warnings kept off stdout and stderr."""
    sink = io.StringIO()
    with (
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        yield sink


def load_pm4py() -> ModuleType:
    """The ``pm4py`` module, imported without its banner reaching stdout."""
    with quiet():
        import pm4py

    return pm4py
