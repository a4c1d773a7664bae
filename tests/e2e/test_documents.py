"""Documents → ingest on local Ray (Ray Data, S3-compatible storage) → search, with faults."""

from __future__ import annotations

import time
from typing import Any

import psutil
import pytest

from tests.e2e.conftest import Stack
from tests.e2e.corpus import (
    CORPUS,
    PARAPHRASES,
    chunk_stats,
    http_client,
    new_collection,
    new_tenant,
    wait_run,
)


def test_ingest_run_succeeds_with_progress(stack: Stack, ingested: dict[str, Any]) -> None:
    run = ingested["run"]
    assert run["status"] == "succeeded", run
    assert run["ray_job_id"].startswith("raylane-ingest-")
    progress = run["progress"]
    assert progress["documents_total"] == progress["documents_done"] == len(CORPUS)
    assert progress["chunks_done"] == progress["chunks_total"] >= len(CORPUS)
    with http_client(stack, ingested["token"]) as http:
        docs = http.get(f"/api/v1/collections/{ingested['collection_id']}/documents").json()
        assert {d["status"] for d in docs["items"]} == {"ingested"}
        logs = http.get(f"/api/v1/runs/{run['id']}/logs").json()
        assert "succeeded" in logs["logs"]


@pytest.mark.parametrize("mode", ["vector", "hybrid"])
def test_search_finds_paraphrases(stack: Stack, ingested: dict[str, Any], mode: str) -> None:
    with http_client(stack, ingested["token"]) as http:
        for query, expected in PARAPHRASES.items():
            r = http.post(
                f"/api/v1/collections/{ingested['collection_id']}/search",
                json={"query": query, "top_k": 3, "mode": mode},
            )
            assert r.status_code == 200, r.text
            hits = r.json()["hits"]
            assert hits[0]["document_name"] == expected, (query, hits)


def test_other_tenant_search_is_404(stack: Stack, ingested: dict[str, Any]) -> None:
    with http_client(stack, new_tenant(stack)) as other:
        r = other.post(
            f"/api/v1/collections/{ingested['collection_id']}/search", json={"query": "pasta"}
        )
        assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_reingest_changes_nothing_and_only_new_documents_are_embedded(
    stack: Stack, services: Any, ingested: dict[str, Any]
) -> None:
    before = chunk_stats(services, ingested["collection_id"])
    with http_client(stack, ingested["token"]) as http:
        run = http.post(f"/api/v1/collections/{ingested['collection_id']}/ingest").json()
        again = wait_run(http, run["id"])
        assert again["status"] == "succeeded"
        assert again["progress"]["documents_total"] == 0
        assert chunk_stats(services, ingested["collection_id"]) == before
        r = http.post(
            f"/api/v1/collections/{ingested['collection_id']}/documents/text",
            json={"documents": [{"name": "rust.txt", "text": "Iron oxidises into rust when wet."}]},
        )
        assert r.status_code == 201
        third = wait_run(
            http, http.post(f"/api/v1/collections/{ingested['collection_id']}/ingest").json()["id"]
        )
        assert third["progress"]["documents_total"] == 1
    rows, distinct = chunk_stats(services, ingested["collection_id"])
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
    with http_client(stack, new_tenant(stack)) as http:
        collection_id = new_collection(http, "logs")
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
            assert run["status"] not in ("failed", "dead_lettered", "cancelled"), run
            workers = _embedding_workers()
            if workers and run["progress"].get("chunks_total"):
                for proc in workers:
                    proc.kill()  # SIGKILL: no cleanup, as a crashed or OOM-killed worker
                killed = True
            time.sleep(0.2)
        assert killed, "never saw an embedding worker to kill"
        run = wait_run(http, run_id)
        assert run["status"] == "succeeded", run
        total = run["progress"]["chunks_total"]
        docs_read = http.get(f"/api/v1/collections/{collection_id}/documents").json()["items"]
        assert sum(d["chunk_count"] for d in docs_read) == total
    rows, distinct = chunk_stats(services, collection_id)
    assert rows == distinct == total
