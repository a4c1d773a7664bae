"""Documents → ingest on local Ray (Ray Data, S3-compatible storage) → search, with faults."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from raylane.core.db.urls import owner_url
from tests.e2e.conftest import Stack

CORPUS = {
    "isolation.md": "# Tenant isolation\n\nRaylane enforces row-level security in Postgres so that one "
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


def _http(stack: Stack, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=stack.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def _tenant(stack: Stack) -> str:
    slug = f"docs-{uuid.uuid4().hex[:6]}"
    with _http(stack, stack.admin_key) as admin:
        r = admin.post(
            "/api/v1/organizations",
            json={"name": slug, "slug": slug, "owner_email": f"o@{slug}.example.com"},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["owner_api_key"])


def _collection(http: httpx.Client, name: str = "kb") -> str:
    project = http.post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex[:6]}"}).json()
    r = http.post(f"/api/v1/projects/{project['id']}/collections", json={"name": name})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _wait(http: httpx.Client, run_id: str, timeout: float = 420) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = http.get(f"/api/v1/runs/{run_id}").json()
        if run["status"] in ("succeeded", "failed", "cancelled"):
            return dict(run)
        time.sleep(1)
    logs = http.get(f"/api/v1/runs/{run_id}/logs").json()["logs"]
    raise AssertionError(f"run {run_id} did not finish: {run}\n{logs[-3000:]}")


def _chunk_stats(services: Any, collection_id: str) -> tuple[int, int]:
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


@pytest.fixture(scope="module")
def ingested(stack: Stack) -> dict[str, Any]:
    token = _tenant(stack)
    with _http(stack, token) as http:
        collection_id = _collection(http)
        files = [("files", (name, body.encode(), None)) for name, body in CORPUS.items()]
        r = http.post(f"/api/v1/collections/{collection_id}/documents", files=files)
        assert r.status_code == 201, r.text
        run = http.post(f"/api/v1/collections/{collection_id}/ingest")
        assert run.status_code == 202, run.text
        finished = _wait(http, run.json()["id"])
    return {"token": token, "collection_id": collection_id, "run": finished}


def test_ingest_run_succeeds_with_progress(stack: Stack, ingested: dict[str, Any]) -> None:
    run = ingested["run"]
    assert run["status"] == "succeeded", run
    assert run["ray_job_id"].startswith("raylane-ingest-")
    progress = run["progress"]
    assert progress["documents_total"] == progress["documents_done"] == len(CORPUS)
    assert progress["chunks_done"] == progress["chunks_total"] >= len(CORPUS)
    with _http(stack, ingested["token"]) as http:
        docs = http.get(f"/api/v1/collections/{ingested['collection_id']}/documents").json()
        assert {d["status"] for d in docs["items"]} == {"ingested"}
        logs = http.get(f"/api/v1/runs/{run['id']}/logs").json()
        assert "succeeded" in logs["logs"]


@pytest.mark.parametrize("mode", ["vector", "hybrid"])
def test_search_finds_paraphrases(stack: Stack, ingested: dict[str, Any], mode: str) -> None:
    with _http(stack, ingested["token"]) as http:
        for query, expected in PARAPHRASES.items():
            r = http.post(
                f"/api/v1/collections/{ingested['collection_id']}/search",
                json={"query": query, "top_k": 3, "mode": mode},
            )
            assert r.status_code == 200, r.text
            hits = r.json()["hits"]
            assert hits[0]["document_name"] == expected, (query, hits)


def test_other_tenant_search_is_404(stack: Stack, ingested: dict[str, Any]) -> None:
    with _http(stack, _tenant(stack)) as other:
        r = other.post(
            f"/api/v1/collections/{ingested['collection_id']}/search", json={"query": "pasta"}
        )
        assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_reingest_changes_nothing_and_only_new_documents_are_embedded(
    stack: Stack, services: Any, ingested: dict[str, Any]
) -> None:
    before = _chunk_stats(services, ingested["collection_id"])
    with _http(stack, ingested["token"]) as http:
        run = http.post(f"/api/v1/collections/{ingested['collection_id']}/ingest").json()
        again = _wait(http, run["id"])
        assert again["status"] == "succeeded"
        assert again["progress"]["documents_total"] == 0
        assert _chunk_stats(services, ingested["collection_id"]) == before
        r = http.post(
            f"/api/v1/collections/{ingested['collection_id']}/documents/text",
            json={"documents": [{"name": "rust.txt", "text": "Iron oxidises into rust when wet."}]},
        )
        assert r.status_code == 201
        third = _wait(
            http, http.post(f"/api/v1/collections/{ingested['collection_id']}/ingest").json()["id"]
        )
        assert third["progress"]["documents_total"] == 1
    rows, distinct = _chunk_stats(services, ingested["collection_id"])
    assert rows == distinct == before[0] + 1


def _embedding_workers() -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        title = " ".join(proc.info["cmdline"] or [])
        if "MapBatches(Embedder)" in title or "MapWorker" in title:
            found.append(proc)
    return found


def test_killed_embedding_worker_does_not_lose_or_duplicate_chunks(
    stack: Stack, services: Any
) -> None:
    sentences = [
        f"Record {i}: the {w} system processed batch {i * 7} without errors."
        for i, w in enumerate(["alpha", "beta", "gamma", "delta"] * 150)
    ]
    docs = [
        {"name": f"log-{n}.txt", "text": " ".join(sentences[n * 60 : (n + 1) * 60])}
        for n in range(10)
    ]
    with _http(stack, _tenant(stack)) as http:
        collection_id = _collection(http, "logs")
        assert (
            http.post(
                f"/api/v1/collections/{collection_id}/documents/text", json={"documents": docs}
            ).status_code
            == 201
        )
        run_id = http.post(f"/api/v1/collections/{collection_id}/ingest").json()["id"]
        killed = False
        deadline = time.monotonic() + 300
        while not killed and time.monotonic() < deadline:
            run = http.get(f"/api/v1/runs/{run_id}").json()
            assert run["status"] not in ("failed", "cancelled"), run
            workers = _embedding_workers()
            if workers and run["progress"].get("chunks_total"):
                for proc in workers:
                    proc.kill()  # SIGKILL: no cleanup, as a crashed or OOM-killed worker
                killed = True
            time.sleep(0.2)
        assert killed, "never saw an embedding worker to kill"
        run = _wait(http, run_id)
        assert run["status"] == "succeeded", run
        total = run["progress"]["chunks_total"]
        docs_read = http.get(f"/api/v1/collections/{collection_id}/documents").json()["items"]
        assert sum(d["chunk_count"] for d in docs_read) == total
    rows, distinct = _chunk_stats(services, collection_id)
    assert rows == distinct == total
