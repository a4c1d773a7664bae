"""The OpenAPI document tells the truth: a property-based fuzzer that reads only /openapi.json
(schemathesis, every check, stateful links between creates and the operations on what they
created) finds nothing against the real app served over HTTP.

The fuzzer runs as its own process, as a consumer would run it; its report is printed when it
fails. The rate limits are raised for the run (the session's settings), nothing else is relaxed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.integration.live import LiveApi, live_api  # noqa: F401  (a fixture)

EXAMPLES_PER_OPERATION = 15


def test_every_operation_answers_as_the_document_says(
    live_api: LiveApi,  # noqa: F811  (the fixture)
    tmp_path: Path,
) -> None:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli is not None, "schemathesis is a dev dependency"
    result = subprocess.run(
        [
            cli,
            "run",
            f"{live_api.url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--header",
            f"Authorization: Bearer {live_api.token}",
            "--generation-database",
            "none",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=900,
    )
    report = result.stdout[-20_000:] + result.stderr[-5_000:]
    assert result.returncode == 0, report
