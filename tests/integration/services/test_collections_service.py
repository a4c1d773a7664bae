"""Collections called directly: the ingest use case, and search returning typed hits."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from raylane.core.audit.repository import AuditRepository
from raylane.core.collections.models import Collection, Document
from raylane.core.collections.repository import ChunkRepository
from raylane.core.collections.search import Hit, search_service
from raylane.core.collections.service import Upload, collection_service, document_service
from raylane.core.documents.sandbox import ParseLimits
from raylane.core.projects.service import project_service
from raylane.core.rbac import Actor
from raylane.core.runs.models import RunKind, RunStatus
from raylane.errors import Conflict, InvalidInput, NotFound
from raylane.infra.storage import store_from_settings
from raylane.schemas.collections import CollectionCreate
from raylane.schemas.projects import ProjectCreate
from tests.integration.services.conftest import Scope


async def _collection(scoped: Scope, actor: Actor, services: Any) -> Collection:
    async with scoped(actor) as session:
        project = await project_service.create(session, actor=actor, data=ProjectCreate(name="p"))
        return await collection_service.create(
            session,
            actor=actor,
            project_id=project.id,
            data=CollectionCreate(name="docs"),
            settings=services,
        )


async def _upload(scoped: Scope, actor: Actor, services: Any, collection: Collection) -> Document:
    async with scoped(actor) as session:
        [(document, created)] = await document_service.upload(
            session,
            actor=actor,
            collection_id=collection.id,
            uploads=[Upload(name="a.txt", data=b"alpha beta gamma", mime="text/plain")],
            store=store_from_settings(services),
            limits=ParseLimits.from_settings(services),
        )
    assert created
    return document


def _axis(i: int, dims: int) -> list[float]:
    return [1.0 if j == i else 0.0 for j in range(dims)]


async def test_start_ingest_queues_one_audited_run(
    tenant: Actor, other_tenant: Actor, scoped: Scope, services: Any
) -> None:
    collection = await _collection(scoped, tenant, services)
    async with scoped(tenant) as session:
        run = await collection_service.start_ingest(
            session, actor=tenant, collection_id=collection.id, max_attempts=2
        )
    assert (run.kind, run.status, run.target_id) == (
        RunKind.INGEST,
        RunStatus.QUEUED,
        collection.id,
    )
    assert (run.project_id, run.max_attempts, run.created_by) == (
        collection.project_id,
        2,
        tenant.user_id,
    )
    async with scoped(tenant) as session:
        with pytest.raises(Conflict, match="already"):
            await collection_service.start_ingest(
                session, actor=tenant, collection_id=collection.id, max_attempts=2
            )
    async with scoped(other_tenant) as session:
        with pytest.raises(NotFound):
            await collection_service.start_ingest(
                session, actor=other_tenant, collection_id=collection.id, max_attempts=2
            )
    async with scoped(tenant) as session:
        audited = await AuditRepository(session).events(
            limit=5, cursor=None, action="run.ingest.create"
        )
    assert [(e.target_type, e.target_id) for e in audited.items] == [("run", str(run.id))]
    assert audited.items[0].summary == {
        "after": {"kind": "ingest", "target_id": str(collection.id)}
    }


async def test_search_returns_typed_hits_best_first(
    tenant: Actor, other_tenant: Actor, scoped: Scope, services: Any
) -> None:
    collection = await _collection(scoped, tenant, services)
    document = await _upload(scoped, tenant, services, collection)
    dims = collection.dimensions
    rows = [
        {
            "id": uuid.uuid4(),
            "organization_id": tenant.organization_id,
            "collection_id": collection.id,
            "document_id": document.id,
            "chunk_index": i,
            "content_hash": f"h{i}",
            "model": collection.embedding_model,
            "text": text,
            "token_count": 2,
            "metadata": {"part": i},
            "dimensions": dims,
            "embedding": _axis(i, dims),
        }
        for i, text in enumerate(["alpha words", "gamma words"])
    ]
    async with scoped(tenant) as session:
        assert await ChunkRepository(session).upsert(rows) == 2

    async def embed(model: str, query: str) -> list[float]:
        assert model == collection.embedding_model
        return _axis(1, dims)

    async with scoped(tenant) as session:
        dense = await search_service.search(
            session,
            collection_id=collection.id,
            query=None,
            vector=_axis(0, dims),
            top_k=2,
            filters={},
            mode="vector",
            embed=embed,
        )
        hybrid = await search_service.search(
            session,
            collection_id=collection.id,
            query="gamma",
            vector=None,
            top_k=2,
            filters={"part": 1},
            mode="hybrid",
            embed=embed,
        )
    assert all(isinstance(h, Hit) for h in dense + hybrid)
    assert [(h.chunk_id, h.chunk_index, h.document_name) for h in dense] == [
        (rows[0]["id"], 0, "a.txt"),
        (rows[1]["id"], 1, "a.txt"),
    ]
    assert dense[0].score == pytest.approx(1.0) and dense[1].score == pytest.approx(0.0)
    # The filter keeps chunk 1 only; it is first in both rankings, so its fused score is 2/61.
    assert [h.chunk_id for h in hybrid] == [rows[1]["id"]]
    assert hybrid[0].score == pytest.approx(2 / 61) and hybrid[0].metadata == {"part": 1}

    async with scoped(tenant) as session:
        with pytest.raises(InvalidInput, match="dimensions"):
            await search_service.search(
                session,
                collection_id=collection.id,
                query=None,
                vector=[1.0, 0.0],
                top_k=1,
                filters={},
                mode="vector",
                embed=embed,
            )
    async with scoped(other_tenant) as session:
        with pytest.raises(NotFound):
            await search_service.search(
                session,
                collection_id=collection.id,
                query=None,
                vector=_axis(0, dims),
                top_k=1,
                filters={},
                mode="vector",
                embed=embed,
            )


async def test_deleting_a_document_takes_its_row_and_is_audited(
    tenant: Actor, scoped: Scope, services: Any
) -> None:
    collection = await _collection(scoped, tenant, services)
    document = await _upload(scoped, tenant, services, collection)
    async with scoped(tenant) as session:
        await document_service.delete(
            session, actor=tenant, document_id=document.id, store=store_from_settings(services)
        )
    async with scoped(tenant) as session:
        with pytest.raises(NotFound):
            await document_service.get(session, document_id=document.id)
        page = await document_service.page(
            session, collection_id=collection.id, limit=10, cursor=None
        )
        audited = await AuditRepository(session).events(
            limit=5, cursor=None, target_id=str(document.id)
        )
    assert page.items == []
    assert [e.action for e in audited.items] == ["document.delete", "document.create"]
