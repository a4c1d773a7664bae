"""``Idempotency-Key`` on run-creating POSTs, through the API on real Postgres.

The claim on a key is an INSERT on a unique constraint in the request's transaction, so twenty
identical requests sent at once (each in its own transaction on its own connection) must make
one run and give twenty identical answers.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
import pytest

from raylane.core.runs.repository import RunRepository
from raylane.infra.db.session import session_scope
from raylane.serve.app import create_app
from tests.factories import Api, Tenant
from tests.integration.test_documents import audit_actions, new_collection


def ingest_path(collection: dict[str, Any]) -> str:
    return f"/api/v1/collections/{collection['id']}/ingest"


def runs_of(owner_conn: psycopg.Connection[Any], collection: dict[str, Any]) -> list[str]:
    rows = owner_conn.execute(
        "SELECT id::text FROM runs WHERE target_id = %s", (collection["id"],)
    ).fetchall()
    return [r[0] for r in rows]


class TestIdempotencyKey:
    async def test_twenty_concurrent_identical_requests_make_one_run(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection[Any]
    ) -> None:
        col = await new_collection(api, org_a)
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        answers = await asyncio.gather(
            *(api.as_(org_a).post(ingest_path(col), headers=headers) for _ in range(20))
        )
        assert [a.status_code for a in answers] == [202] * 20, [a.text for a in answers]
        assert len({a.text for a in answers}) == 1  # the same body, byte for byte
        replayed = [a.headers.get("Idempotent-Replayed") for a in answers]
        assert replayed.count(None) == 1 and replayed.count("true") == 19
        run_id = answers[0].json()["id"]
        assert runs_of(owner_conn, col) == [run_id]
        assert await audit_actions(api, org_a, run_id) == ["run.ingest.create"]

    async def test_a_retry_later_gets_the_first_answer_even_after_the_run_moved_on(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection[Any]
    ) -> None:
        col = await new_collection(api, org_a)
        headers = {"Idempotency-Key": "retry-me"}
        first = await api.as_(org_a).post(ingest_path(col), headers=headers)
        assert first.status_code == 202, first.text
        await api.as_(org_a).post(f"/api/v1/runs/{first.json()['id']}/cancel")
        again = await api.as_(org_a).post(ingest_path(col), headers=headers)
        assert again.status_code == 202 and again.json() == first.json()
        assert again.json()["status"] == "queued"  # the stored answer, not today's state
        assert runs_of(owner_conn, col) == [first.json()["id"]]

    async def test_the_same_key_with_another_request_is_409(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection[Any]
    ) -> None:
        first, other = await new_collection(api, org_a), await new_collection(api, org_a)
        headers = {"Idempotency-Key": "one-request-only"}
        assert (await api.as_(org_a).post(ingest_path(first), headers=headers)).status_code == 202
        r = await api.as_(org_a).post(ingest_path(other), headers=headers)
        assert r.status_code == 409, r.text
        assert r.json()["error"] == "idempotency_key_reused"
        assert "one-request-only" in r.json()["detail"]
        r = await api.as_(org_a).post(ingest_path(first), headers=headers, json={"x": 1})
        assert r.status_code == 409 and r.json()["error"] == "idempotency_key_reused"
        assert runs_of(owner_conn, other) == []

    async def test_keys_are_per_organization(
        self, api: Api, org_a: Tenant, org_b: Tenant, owner_conn: psycopg.Connection[Any]
    ) -> None:
        col_a, col_b = await new_collection(api, org_a), await new_collection(api, org_b)
        headers = {"Idempotency-Key": "shared-by-chance"}
        a = await api.as_(org_a).post(ingest_path(col_a), headers=headers)
        b = await api.as_(org_b).post(ingest_path(col_b), headers=headers)
        assert (a.status_code, b.status_code) == (202, 202), b.text
        assert a.json()["id"] != b.json()["id"]
        # Another tenant sending org A's request with a fresh key learns nothing: 404, and
        # the key is not kept (nothing was created).
        fresh = {"Idempotency-Key": "b-tries-a"}
        for _ in range(2):
            r = await api.as_(org_b).post(ingest_path(col_a), headers=fresh)
            assert r.status_code == 404 and r.json()["error"] == "not_found"
        assert len(runs_of(owner_conn, col_a)) == 1

    async def test_an_error_answer_is_not_kept(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection[Any]
    ) -> None:
        col = await new_collection(api, org_a)
        busy = await api.as_(org_a).post(ingest_path(col))  # an active run: the next is 409
        headers = {"Idempotency-Key": "after-a-conflict"}
        r = await api.as_(org_a).post(ingest_path(col), headers=headers)
        assert r.status_code == 409 and r.json()["error"] == "conflict"
        await api.as_(org_a).post(f"/api/v1/runs/{busy.json()['id']}/cancel")
        r = await api.as_(org_a).post(ingest_path(col), headers=headers)
        assert r.status_code == 202, r.text  # the key was not burnt by the failed attempt
        assert "Idempotent-Replayed" not in r.headers

    @pytest.mark.parametrize("key", [b"", b"has space", b"x" * 256, "é".encode(), b"tab\tin"])
    async def test_a_malformed_key_is_422_and_creates_nothing(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection[Any], key: bytes
    ) -> None:
        col = await new_collection(api, org_a)
        r = await api.as_(org_a).post(ingest_path(col), headers={"Idempotency-Key": key})
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "validation_error"
        assert runs_of(owner_conn, col) == []

    async def test_an_expired_key_is_taken_over_and_purged(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection[Any]
    ) -> None:
        first, other = await new_collection(api, org_a), await new_collection(api, org_a)
        key = f"old-{uuid.uuid4()}"
        headers = {"Idempotency-Key": key}
        assert (await api.as_(org_a).post(ingest_path(first), headers=headers)).status_code == 202
        kept = owner_conn.execute(
            "SELECT expires_at - created_at FROM idempotency_keys WHERE key = %s", (key,)
        ).fetchone()
        assert kept is not None and kept[0].total_seconds() >= 24 * 3600 - 5
        owner_conn.execute(
            "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = %s",
            (key,),
        )
        r = await api.as_(org_a).post(ingest_path(other), headers=headers)
        assert r.status_code == 202, r.text  # expired: a new request, not a reused key
        owner_conn.execute(
            "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = %s",
            (key,),
        )
        async with session_scope() as session:
            assert await RunRepository(session).purge_idempotency_keys(limit=1000) >= 1
        left = owner_conn.execute("SELECT count(*) FROM idempotency_keys WHERE key = %s", (key,))
        assert left.fetchone() == (0,)


def test_the_header_is_documented_on_every_run_creating_route() -> None:
    doc = create_app().openapi()
    for path in ("/api/v1/collections/{collection_id}/ingest", "/api/v1/runs/{run_id}/replay"):
        params = doc["paths"][path]["post"].get("parameters", [])
        header = [p for p in params if p["in"] == "header"]
        assert [p["name"] for p in header] == ["Idempotency-Key"], path
        assert header[0]["required"] is False
        assert "24 hours" in header[0]["description"]
