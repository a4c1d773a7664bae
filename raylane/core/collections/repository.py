"""All SQL for collections, documents and chunks."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pgvector import Vector
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.collections.models import Chunk, Collection, Document
from raylane.core.db.paging import Page, keyset_page
from raylane.core.db.session import HNSW_EF_SEARCH, driver_connection


def nearest_statement(
    *,
    collection_id: uuid.UUID,
    vector: list[float],
    top_k: int,
    filters: dict[str, Any],
    exact: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The nearest-chunks statement (psycopg placeholders) and its parameters.

    The collection row is joined, so row-level security and the width check come with the
    search. The vector travels in binary (pgvector's adapters, registered on every connection).
    """
    dims = len(vector)  # part of the SQL text (must match the index expression)
    distance = f"embedding::vector({dims}) <=> CAST(%(q)s AS vector({dims}))"
    order = f"({distance}) + 0" if exact else distance
    where = "collection_id = c.id AND dimensions = %(dims)s AND c.dimensions = %(dims)s"
    if filters:
        where += " AND metadata @> CAST(%(filters)s AS jsonb)"
    sql = f"""
        SELECT c.dimensions AS collection_dimensions, h.*, d.name AS document_name
        FROM collections c
        LEFT JOIN LATERAL (
            SELECT id, document_id, chunk_index, text, metadata, {distance} AS distance
            FROM chunks WHERE {where} ORDER BY {order} LIMIT %(k)s
        ) h ON true
        LEFT JOIN documents d ON d.id = h.document_id
        WHERE c.id = %(cid)s
        ORDER BY h.distance
        """
    params: dict[str, Any] = {"q": Vector(vector), "cid": collection_id, "dims": dims, "k": top_k}
    if filters:
        params["filters"] = Jsonb(filters)
    return sql, params


class CollectionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, collection_id: uuid.UUID) -> Collection | None:
        return await self._session.get(Collection, collection_id)

    async def lock(self, collection_id: uuid.UUID) -> None:
        """Row-lock the collection until the transaction ends (serialises its uploads)."""
        stmt = select(Collection.id).where(Collection.id == collection_id).with_for_update()
        await self._session.execute(stmt)

    async def page(
        self, *, project_id: uuid.UUID, limit: int, cursor: str | None
    ) -> Page[Collection]:
        stmt = select(Collection).where(Collection.project_id == project_id)
        return await keyset_page(self._session, stmt, Collection.id, limit=limit, cursor=cursor)


class DocumentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, document_id: uuid.UUID) -> Document | None:
        return await self._session.get(Document, document_id)

    async def get_many(self, document_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Document]:
        if not document_ids:
            return {}
        stmt = select(Document).where(Document.id.in_(list(document_ids)))
        return {d.id: d for d in await self._session.scalars(stmt)}

    async def by_hash(self, collection_id: uuid.UUID, content_hash: str) -> Document | None:
        stmt = select(Document).where(
            Document.collection_id == collection_id, Document.content_hash == content_hash
        )
        return (await self._session.scalars(stmt)).first()

    async def by_name(self, collection_id: uuid.UUID, name: str) -> Document | None:
        stmt = select(Document).where(
            Document.collection_id == collection_id, Document.name == name
        )
        return (await self._session.scalars(stmt)).first()

    async def count(self, collection_id: uuid.UUID) -> int:
        stmt = select(func.count(Document.id)).where(Document.collection_id == collection_id)
        return int((await self._session.scalar(stmt)) or 0)

    async def page(
        self, *, collection_id: uuid.UUID, limit: int, cursor: str | None
    ) -> Page[Document]:
        stmt = select(Document).where(Document.collection_id == collection_id)
        return await keyset_page(self._session, stmt, Document.id, limit=limit, cursor=cursor)

    async def object_keys(self, collection_id: uuid.UUID) -> list[str]:
        stmt = select(Document.object_key).where(Document.collection_id == collection_id)
        return list(await self._session.scalars(stmt))

    async def needing_embedding(self, collection_id: uuid.UUID, model: str) -> list[Document]:
        """Documents whose current content has not been embedded with ``model`` yet."""
        stmt = (
            select(Document)
            .where(Document.collection_id == collection_id)
            .where(
                (Document.embedded_hash.is_(None))
                | (Document.embedded_hash != Document.content_hash)
                | (Document.status != "ingested")
            )
            .order_by(Document.id)
        )
        return list(await self._session.scalars(stmt))


class ChunkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def upsert(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert chunks in one statement; rows already present (same key) are left alone.

        The key (document, chunk index, content hash, model) makes retried or repeated ingests
        write each chunk exactly once.
        """
        if not rows:
            return 0
        stmt = (
            insert(Chunk)
            .values(list(rows))
            .on_conflict_do_nothing(
                index_elements=["document_id", "chunk_index", "content_hash", "model"]
            )
        )
        result = await self._session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)

    async def prune(
        self, keep: Mapping[uuid.UUID, Sequence[tuple[int, str]]], *, model: str
    ) -> int:
        """For each document in ``keep``, delete its chunks but those listed ((index, hash) under
        ``model``), in one statement whatever the number of documents."""
        if not keep:
            return 0
        kept = [(d, i, h) for d, pairs in keep.items() for i, h in pairs]
        stmt = text(
            """
            DELETE FROM chunks c
            WHERE c.document_id = ANY(CAST(:docs AS uuid[]))
              AND NOT (c.model = :model AND EXISTS (
                  SELECT 1 FROM unnest(CAST(:kd AS uuid[]), CAST(:ki AS int[]),
                                       CAST(:kh AS text[])) AS k(d, i, h)
                  WHERE k.d = c.document_id AND k.i = c.chunk_index AND k.h = c.content_hash))
            """
        )
        params = {
            "docs": list(keep),
            "model": model,
            "kd": [d for d, _, _ in kept],
            "ki": [i for _, i, _ in kept],
            "kh": [h for _, _, h in kept],
        }
        result = await self._session.execute(stmt, params)
        return int(getattr(result, "rowcount", 0) or 0)

    async def count(self, *, collection_id: uuid.UUID) -> int:
        stmt = select(func.count(Chunk.id)).where(Chunk.collection_id == collection_id)
        return int((await self._session.scalar(stmt)) or 0)

    async def nearest(
        self,
        *,
        collection_id: uuid.UUID,
        vector: list[float],
        top_k: int,
        filters: dict[str, Any],
        ef_search: int,
        exact: bool = False,
    ) -> tuple[int | None, list[dict[str, Any]]]:
        """The collection's dimensions (None: not visible to the tenant) and its top-k chunks by
        cosine distance, in one statement. ``exact`` bypasses the HNSW index.

        Chunks are searched only when the collection's width is the vector's. The HNSW index
        filters after it scans, so a small collection in a big table can come back short; the
        caller then asks again with ``exact``. Runs on the driver: this is the search hot path.
        """
        driver = await driver_connection(self._session)
        if ef_search != HNSW_EF_SEARCH:  # every connection starts at HNSW_EF_SEARCH
            await driver.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
        sql, params = nearest_statement(
            collection_id=collection_id, vector=vector, top_k=top_k, filters=filters, exact=exact
        )
        cursor = driver.cursor(row_factory=dict_row)
        rows = await (await cursor.execute(sql, params)).fetchall()
        if not rows:
            return None, []
        return rows[0]["collection_dimensions"], [r for r in rows if r["id"] is not None]

    async def full_text(
        self, *, collection_id: uuid.UUID, query: str, limit: int, filters: dict[str, Any]
    ) -> list[Any]:
        """Chunks matching the words of ``query``, best first (Postgres full-text search)."""
        where = "c.collection_id = :cid AND c.tsv @@ q"
        if filters:
            where += " AND c.metadata @> CAST(:filters AS jsonb)"
        sql = text(
            f"""
            SELECT c.id, c.document_id, c.chunk_index, c.text, c.metadata,
                   ts_rank_cd(c.tsv, q) AS rank, d.name AS document_name
            FROM chunks c JOIN documents d ON d.id = c.document_id,
                 websearch_to_tsquery('english', :query) q
            WHERE {where} ORDER BY rank DESC LIMIT :k
            """
        )
        params: dict[str, Any] = {"cid": collection_id, "query": query, "k": limit}
        if filters:
            import json

            params["filters"] = json.dumps(filters)
        return list((await self._session.execute(sql, params)).mappings())
