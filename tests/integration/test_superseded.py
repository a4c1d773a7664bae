"""A replaced document's old content never answers a search nor reaches the copilot, whether
the next ingest has run, failed, or is still writing chunks cut from the old content.

Chunks go in as the ingest job writes them (``ChunkRepository.upsert`` with the content hashes
the job read), embedded by the real model; the pipeline around it needs Ray and is not run here.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from raylane.core.collections.repository import ChunkRepository
from raylane.core.copilot.engine import ChatRequest, CopilotEngine
from raylane.core.quotas.service import TokenQuota
from raylane.infra.db.session import Database
from raylane.infra.db.urls import app_url
from raylane.infra.llm.base import Delta, GenerationParams, Usage
from raylane.serve.platform import local_embedder
from tests.factories import Api, Tenant
from tests.integration.chunks import chunk_row
from tests.integration.test_documents import new_collection, upload

OLD = "Employees get twelve days of paid vacation, booked through the old HR portal."
NEW = "Parking spaces are assigned by lottery every January at the front desk."


@pytest.fixture
async def db(services: Any) -> AsyncIterator[Database]:
    database = Database(app_url(services), pool_size=2)
    yield database
    await database.dispose()


async def write_chunks(
    db: Database, embed: Any, tenant: Tenant, collection: dict[str, Any], doc: dict[str, Any]
) -> int:
    """What an ingest of ``doc`` (as read then) writes: one chunk of its text, embedded."""
    text = OLD if "vacation" in doc["name"] else NEW
    vector = await embed(collection["embedding_model"], text)
    org = uuid.UUID(tenant.organization_id)
    async with db.session(organization_id=org) as session:
        return await ChunkRepository(session).upsert(
            [
                chunk_row(
                    organization_id=org,
                    collection_id=collection["id"],
                    document_id=doc["id"],
                    model=collection["embedding_model"],
                    dimensions=collection["dimensions"],
                    text=text,
                    embedding=vector,
                    content_hash=f"chunk-{doc['content_hash'][:16]}",
                )
            ],
            contents={uuid.UUID(doc["id"]): doc["content_hash"]},
        )


async def ingested(
    api: Api, db: Database, embed: Any, tenant: Tenant, owner_conn: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A collection whose document ``vacation.txt`` (the OLD text) is ingested."""
    col = await new_collection(api, tenant)
    r = await upload(api, tenant, col["id"], [("vacation.txt", OLD.encode(), "text/plain")])
    doc = r.json()[0]["document"]
    assert await write_chunks(db, embed, tenant, col, doc) == 1
    owner_conn.execute(
        "UPDATE documents SET status = 'ingested', embedded_hash = content_hash, chunk_count = 1 "
        "WHERE id = %s",
        (doc["id"],),
    )
    return col, doc


async def replace(api: Api, tenant: Tenant, collection: dict[str, Any]) -> dict[str, Any]:
    r = await upload(api, tenant, collection["id"], [("vacation.txt", NEW.encode(), "text/plain")])
    assert r.status_code == 201, r.text
    return dict(r.json()[0]["document"])


async def texts_found(api: Api, tenant: Tenant, collection_id: str, mode: str) -> list[str]:
    r = await api.as_(tenant).post(
        f"/api/v1/collections/{collection_id}/search",
        json={"query": "how many vacation days do employees get", "mode": mode, "top_k": 5},
    )
    assert r.status_code == 200, r.text
    return [h["text"] for h in r.json()["hits"]]


@pytest.mark.parametrize("mode", ["vector", "hybrid"])
class TestSearchAfterReplace:
    async def test_old_content_is_not_found_after_a_replace(
        self, api: Api, org_a: Tenant, owner_conn: Any, db: Database, services: Any, mode: str
    ) -> None:
        embed = local_embedder(services)
        col, _ = await ingested(api, db, embed, org_a, owner_conn)
        assert await texts_found(api, org_a, col["id"], mode) == [OLD]  # found while current

        replaced = await replace(api, org_a, col)

        assert replaced["status"] == "pending" and replaced["chunk_count"] == 0
        assert OLD not in await texts_found(api, org_a, col["id"], mode)

    async def test_an_ingest_that_read_the_old_content_writes_nothing(
        self, api: Api, org_a: Tenant, owner_conn: Any, db: Database, services: Any, mode: str
    ) -> None:
        embed = local_embedder(services)
        col, doc = await ingested(api, db, embed, org_a, owner_conn)
        owner_conn.execute("DELETE FROM chunks WHERE document_id = %s", (doc["id"],))

        await replace(api, org_a, col)
        # An ingest that read the document before the replace writes its chunks only now.
        assert await write_chunks(db, embed, org_a, col, doc) == 0

        assert OLD not in await texts_found(api, org_a, col["id"], mode)
        left = owner_conn.execute(
            "SELECT count(*) FROM chunks WHERE document_id = %s", (doc["id"],)
        ).fetchone()
        assert left == (0,)


class TestIngestWrites:
    async def test_chunks_of_a_deleted_document_are_dropped(
        self, api: Api, org_a: Tenant, owner_conn: Any, db: Database, services: Any
    ) -> None:
        col = await new_collection(api, org_a)
        r = await upload(api, org_a, col["id"], [("parking.txt", NEW.encode(), "text/plain")])
        doc = r.json()[0]["document"]
        assert (await api.as_(org_a).delete(f"/api/v1/documents/{doc['id']}")).status_code == 204

        # Before, the insert failed on the foreign key and took the whole batch down with it.
        assert await write_chunks(db, local_embedder(services), org_a, col, doc) == 0


class TestCopilotAfterReplace:
    async def test_the_model_never_sees_superseded_content(
        self, api: Api, org_a: Tenant, owner_conn: Any, db: Database, services: Any
    ) -> None:
        from raylane.core.rbac import ROLE_PERMISSIONS, Actor, Role
        from raylane.infra.kv import async_client, redis_url

        embed = local_embedder(services)
        col, _ = await ingested(api, db, embed, org_a, owner_conn)
        await replace(api, org_a, col)
        seen: list[str] = []

        async def echo(
            messages: list[dict[str, str]], params: GenerationParams
        ) -> AsyncIterator[Delta]:
            seen.extend(m["content"] for m in messages)
            yield Delta("ok", finish_reason="stop", usage=Usage(5, 1))

        quota = TokenQuota(async_client(redis_url(services)), daily_tokens=0)
        engine = CopilotEngine(db, embed=embed, generate=echo, quota=quota)
        actor = Actor(
            organization_id=uuid.UUID(org_a.organization_id),
            user_id=uuid.UUID(org_a.owner_id),
            role=Role.OWNER,
            permissions=ROLE_PERMISSIONS[Role.OWNER],
        )
        request = ChatRequest(
            "How many vacation days do employees get?",
            project_id=uuid.UUID(col["project_id"]),
            collection_ids=[uuid.UUID(col["id"])],
            store=False,
        )
        events = [e async for e in engine.chat(actor, request)]

        assert seen, events  # the model was asked
        assert not any("twelve days" in m for m in seen)
        citations = [e for e in events if e["type"] == "citations"]
        assert all(c["text"] != OLD for e in citations for c in e["citations"])
