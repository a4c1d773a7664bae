"""The e2e corpus and helpers: tenants, collections, waiting for runs, counting chunks."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from raylane.infra.db.urls import owner_url
from tests.e2e.conftest import Stack

CORPUS = {
    "isolation.md": "# Tenant isolation\n\nRaylane enforces row-level security in Postgres "
    "so that one "
    "organization can never read rows that belong to another organization. Every query runs "
    "with the tenant set for the transaction.",
    "pasta.txt": "Bring a large pot of salted water to a rolling boil, add the spaghetti and cook "
    "it for nine minutes until it is al dente, then drain and toss with sauce.",
    "cats.html": "<html><head><title>Litter training</title></head><body><p>Place the litter box "
    "in a quiet corner and show the kitten where it is after every meal.</p></body></html>",
    "photosynthesis.txt": "Plants convert sunlight, water and carbon dioxide into glucose and "
    "oxygen in their chloroplasts; chlorophyll absorbs mostly red and blue light.",
    "keys.md": "# API keys\n\nRotate credentials regularly: create a new key, deploy it, then "
    "revoke the old one. Revocation takes effect on the very next request.",
}
PARAPHRASES = {
    "How do you stop one customer from seeing another customer's data?": "isolation.md",
    "what is the right way to boil noodles": "pasta.txt",
    "teaching a young cat where to go to the toilet": "cats.html",
    "how do green leaves make sugar from light": "photosynthesis.txt",
    "replacing an old access token safely": "keys.md",
}


def http_client(stack: Stack, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=stack.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def new_tenant(stack: Stack) -> str:
    slug = f"docs-{uuid.uuid4().hex[:6]}"
    with http_client(stack, stack.admin_key) as admin:
        r = admin.post(
            "/api/v1/organizations",
            json={"name": slug, "slug": slug, "owner_email": f"o@{slug}.example.com"},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["owner_api_key"])


def new_collection(http: httpx.Client, name: str = "kb") -> str:
    project = http.post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex[:6]}"}).json()
    r = http.post(f"/api/v1/projects/{project['id']}/collections", json={"name": name})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def wait_run(http: httpx.Client, run_id: str, timeout: float = 420) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = http.get(f"/api/v1/runs/{run_id}").json()
        if run["status"] in ("succeeded", "failed", "dead_lettered", "cancelled"):
            return dict(run)
        time.sleep(1)
    logs = http.get(f"/api/v1/runs/{run_id}/logs").json()["logs"]
    raise AssertionError(f"run {run_id} did not finish: {run}\n{logs[-3000:]}")


def chunk_stats(services: Any, collection_id: str) -> tuple[int, int]:
    """(rows, distinct (document, chunk index)) read as the owner, past row-level security."""
    url = make_url(owner_url(services)).set(drivername="postgresql+psycopg")
    engine = create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT count(*), count(DISTINCT (document_id, chunk_index)) FROM chunks "
                "WHERE collection_id = :c"
            ),
            {"c": collection_id},
        ).one()
    engine.dispose()
    return int(row[0]), int(row[1])


def ingest_corpus(stack: Stack) -> dict[str, Any]:
    token = new_tenant(stack)
    with http_client(stack, token) as http:
        collection_id = new_collection(http)
        files = [("files", (name, body.encode(), None)) for name, body in CORPUS.items()]
        r = http.post(f"/api/v1/collections/{collection_id}/documents", files=files)
        assert r.status_code == 201, r.text
        run = http.post(f"/api/v1/collections/{collection_id}/ingest")
        assert run.status_code == 202, run.text
        finished = wait_run(http, run.json()["id"])
    return {"token": token, "collection_id": collection_id, "run": finished}
