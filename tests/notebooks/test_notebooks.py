"""Every notebook in ``notebooks/`` runs top to bottom on the sample logs without an error.

They are the analysts' documentation of the ``mining`` API, so an API change that breaks one
breaks the build, not a reader's afternoon.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebook_runs_without_error(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError naming the cell on any error
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # Each notebook shows results, not just runs: its last code cell has an output.
    last = [c for c in notebook.cells if c.cell_type == "code"][-1]
    assert last.outputs, f"{path.name}: the last cell shows nothing"


def test_there_are_notebooks_for_each_analysis() -> None:
    names = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    assert {"bottleneck_hunt", "retry_hotspots_by_payer", "conformance"} <= names
