"""The quickstart notebook, executed cell by cell against the platform as a new tenant."""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import httpx
import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "notebooks" / "quickstart.ipynb"
KERNEL = "python3"
# jupyter_client starts a kernel spec whose command is a bare "python" with this interpreter.
SAME_PYTHON = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info)}


def kernel_on_this_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The name of a kernel that runs this interpreter, so the notebook imports the checkout
    under test; writes a kernel spec for it when the installed ``python3`` runs another."""
    try:
        argv = KernelSpecManager().get_kernel_spec(KERNEL).argv
    except NoSuchKernel:
        argv = []
    if argv and argv[0] in SAME_PYTHON | {sys.executable}:
        return KERNEL
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (tests)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return KERNEL


def new_tenant(stack: Stack) -> str:
    """A fresh organization; returns its owner's API key."""
    slug = f"nb-{uuid.uuid4().hex[:8]}"
    with httpx.Client(
        base_url=stack.url, headers={"Authorization": f"Bearer {stack.admin_key}"}, timeout=60
    ) as admin:
        r = admin.post(
            "/api/v1/organizations",
            json={"name": slug, "slug": slug, "owner_email": f"owner@{slug}.example.com"},
        )
    assert r.status_code == 201, r.text
    return str(r.json()["owner_api_key"])


def outputs_text(cell: nbformat.NotebookNode) -> str:
    """Everything a code cell printed or displayed, as text."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
        elif output.get("output_type") == "error":
            parts.append("\n".join(output.get("traceback", [])))
    return "".join(parts)


@pytest.mark.timeout(1500)  # may include starting the platform, then a first ingest
def test_quickstart_notebook_runs_as_a_new_tenant(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells and all(not c.outputs for c in code_cells), "commit the notebook clean"

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "RAYLANE_"))}
    env |= {
        "RAYLANE_URL": stack.url,
        "RAYLANE_API_KEY": new_tenant(stack),
        # No profile file: the notebook must work from the environment alone.
        "RAYLANE_CONFIG": str(tmp_path / "no-config.toml"),
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
    assert "Connected to" in outputs_text(code_cells[0])
    assert "parental-leave.md" in outputs_text(code_cells[4])  # the search hits

    final = outputs_text(code_cells[-1])
    answer, _, sources = final.partition("Sources:")
    assert answer.strip(), final
    assert "[1] " in sources and "parental-leave.md" in sources, final
    assert "Tokens used today:" in final
