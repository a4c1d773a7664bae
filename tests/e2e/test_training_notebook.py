"""The training notebook, executed cell by cell against the platform as a new tenant: a
dataset upload, a Ray Train run followed to its end, its experiment's metrics, a registered
model aliased ``production`` and predicting, and a tracking run logged by hand."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.e2e.conftest import Stack
from tests.e2e.test_notebook import kernel_on_this_python, new_tenant, outputs_text

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "docs" / "notebooks" / "training.ipynb"
DATA = ROOT / "tests" / "data" / "train_small.jsonl"


@pytest.mark.timeout(1800)  # may include starting the platform, then embedding and training
def test_training_notebook_runs_as_a_new_tenant(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells and all(not c.outputs for c in code_cells), "commit the notebook clean"

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "RAYLANE_"))}
    env |= {
        "RAYLANE_URL": stack.url,
        "RAYLANE_API_KEY": new_tenant(stack),
        "RAYLANE_CONFIG": str(tmp_path / "no-config.toml"),
        # The notebook runs in a temporary directory, not docs/notebooks.
        "RAYLANE_TRAIN_DATA": str(DATA),
    }
    runner = NotebookClient(
        nb,
        kernel_name=kernel_on_this_python(tmp_path, monkeypatch),
        timeout=600,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    try:
        runner.execute(env=env)
    except CellExecutionError as exc:
        pytest.fail(f"the notebook failed:\n{exc}")
    finally:  # the executed copy, outputs included, for reading after a failure
        nbformat.write(nb, tmp_path / NOTEBOOK.name)

    errors = [o for c in code_cells for o in c.outputs if o.output_type == "error"]
    assert errors == []
    assert all(c.execution_count for c in code_cells)
    printed = [outputs_text(c) for c in code_cells]
    assert "Connected to" in printed[0]
    assert "300 rows" in printed[1]
    assert "training" in printed[2] and "finished: succeeded" in printed[2]
    assert "held-out accuracy" in printed[3] and "loss" in printed[3]
    assert "is now production" in printed[4]
    assert "sports" in printed[4] and "cooking" in printed[4]
    assert "finished" in printed[5] and "notes/notes.txt" in printed[5]
