"""A client generated from /openapi.json by a standard generator (openapi-python-client) compiles
and round-trips the quickstart: create a project and a collection, upload a document, search it.

The generator runs in a venv of its own (`make install` builds `.venv/tools`); the generated
package is compiled, imported and called here against the app on a real port, exactly as a
consumer who never saw Raylane's SDK would use it.
"""

from __future__ import annotations

import asyncio
import compileall
import importlib
import io
import json
import re
import subprocess
import sys
import typing
import urllib.request
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from raylane.core.collections.repository import ChunkRepository
from raylane.infra.db.session import Database
from raylane.infra.db.urls import app_url
from raylane.serve.platform import local_embedder
from tests.integration.chunks import chunk_row
from tests.integration.live import LiveApi, live_api  # noqa: F401  (a fixture)

GENERATOR = Path(sys.executable).parent.parent / "tools" / "bin" / "openapi-python-client"
PACKAGE = "raylane_api"
TEXT = "Parents get sixteen weeks of paid leave after a birth or an adoption."


@pytest.fixture(scope="module")
def generated(live_api: LiveApi, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:  # noqa: F811
    assert GENERATOR.exists(), "make install builds the generator's venv (.venv/tools)"
    root = tmp_path_factory.mktemp("generated")
    with urllib.request.urlopen(f"{live_api.url}/openapi.json") as answer:
        document = json.load(answer)
    (root / "openapi.json").write_text(json.dumps(document))
    (root / "config.yaml").write_text(f"package_name_override: {PACKAGE}\n")
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(root / "openapi.json"),
            "--config",
            str(root / "config.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(root / PACKAGE),
        ],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Unable to" not in result.stdout, result.stdout  # an operation it had to skip
    assert compileall.compile_dir(str(root / PACKAGE), quiet=1), "the generated code compiles"
    sys.path.insert(0, str(root))
    try:
        yield {"root": root / PACKAGE, "document": document}
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _operation(generated: dict[str, Any], method: str, path: str) -> ModuleType:
    """The generated module for one operation, found by its operationId."""
    operation_id = generated["document"]["paths"][path][method]["operationId"]
    name = re.sub(r"[^a-z0-9]+", "_", operation_id.lower()).strip("_")  # the generator's snake
    found = list((generated["root"] / "api").glob(f"*/{name}.py"))
    assert len(found) == 1, f"no generated module for {method.upper()} {path} ({operation_id})"
    tag = found[0].parent.name
    return importlib.import_module(f"{PACKAGE}.api.{tag}.{name}")


def _body_type(module: ModuleType) -> Any:
    hints = typing.get_type_hints(module.sync_detailed)
    return hints["body"]


async def _embed_chunk(services: Any, live: LiveApi, collection: Any, document: Any) -> None:
    """What the ingest job would write for the document (no Ray in integration tests)."""
    embed = local_embedder(services)
    vector = await embed(collection.embedding_model, TEXT)
    org = uuid.UUID(live.organization_id)
    db = Database(app_url(services), pool_size=1)
    try:
        async with db.session(organization_id=org) as session:
            await ChunkRepository(session).upsert(
                [
                    chunk_row(
                        organization_id=org,
                        collection_id=collection.id,
                        document_id=document.id,
                        model=collection.embedding_model,
                        dimensions=collection.dimensions,
                        text=TEXT,
                        embedding=vector,
                        content_hash=f"chunk-{document.content_hash[:16]}",
                    )
                ],
                contents={uuid.UUID(str(document.id)): document.content_hash},
            )
    finally:
        await db.dispose()


def test_a_generated_client_round_trips_the_quickstart(
    generated: dict[str, Any],
    live_api: LiveApi,  # noqa: F811  (the fixture)
    services: Any,
) -> None:
    client_module = importlib.import_module(PACKAGE)
    types = importlib.import_module(f"{PACKAGE}.types")
    client = client_module.AuthenticatedClient(base_url=live_api.url, token=live_api.token)

    create_project = _operation(generated, "post", "/api/v1/projects")
    project = create_project.sync(client=client, body=_body_type(create_project)(name="handbook"))
    assert project.name == "handbook", project

    create_collection = _operation(generated, "post", "/api/v1/projects/{project_id}/collections")
    collection = create_collection.sync(
        project.id, client=client, body=_body_type(create_collection)(name="policies")
    )
    assert collection.name == "policies" and collection.dimensions == 384, collection

    upload = _operation(generated, "post", "/api/v1/collections/{collection_id}/documents")
    file = types.File(
        payload=io.BytesIO(TEXT.encode()), file_name="leave.md", mime_type="text/markdown"
    )
    uploaded = upload.sync(collection.id, client=client, body=_body_type(upload)(files=[file]))
    assert isinstance(uploaded, list) and len(uploaded) == 1, getattr(uploaded, "detail", uploaded)
    document = uploaded[0].document
    assert document.name == "leave.md"

    asyncio.run(_embed_chunk(services, live_api, collection, document))
    search = _operation(generated, "post", "/api/v1/collections/{collection_id}/search")
    result = search.sync(
        collection.id, client=client, body=_body_type(search)(query="time off for new parents")
    )
    assert [h.text for h in result.hits] == [TEXT], result
    assert str(result.hits[0].document_id) == str(document.id)
