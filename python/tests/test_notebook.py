"""examples/quickstart.ipynb and examples/analytics.ipynb run headless, top to bottom, without an error (so the
notebook in the repository never rots)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "quickstart.ipynb"
ANALYTICS = Path(__file__).resolve().parents[2] / "examples" / "analytics.ipynb"


def test_quickstart_notebook_runs(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert code_cells and all(c.execution_count for c in code_cells)
    outputs = "".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for c in code_cells for o in c.outputs
    )
    assert "hello from boto3 code" in outputs
    assert "ResourceNotFoundException" in outputs
    assert "b'{\"total\": 99}'" in outputs


def test_analytics_notebook_runs(tmp_path: Path) -> None:
    notebook = nbformat.read(ANALYTICS, as_version=4)
    client = NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert code_cells and all(c.execution_count for c in code_cells)
    outputs = "".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for c in code_cells for o in c.outputs
    )
    assert "$.device.os" in outputs  # the inferred schema was shown
    assert "records that did not decode: 1" in outputs
    assert "not a JSON object" in outputs
    assert re.search(r"'segments_skipped': [1-9]", outputs), outputs  # the time filter skipped segments
    assert "chart of 60 minutes" in outputs
