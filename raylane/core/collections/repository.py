"""All SQL for collections, documents and chunks."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pgvector import Vector
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert

from raylane.core.collections.models import Chunk, Collection, Document, ObjectDeletion
from raylane.infra.db.repository import Repository
from raylane.infra.db.session import (
    HNSW_EF_SEARCH,
    SEARCH_INDEX_EF_CONSTRUCTION,
    driver_connection,
)

if TYPE_CHECKING:
    from psycopg import AsyncConnection
from raylane.infra.ids import uuid7

# Advisory locks on object keys use the two-int form under this class id, apart from every
# single-bigint lock (migrations use one).
_OBJECT_KEY_LOCK = 7140007
# Builds and drops of one collection's search index are serialised under this class id.
_SEARCH_INDEX_LOCK = 7140009


def search_index_name(collection_id: uuid.UUID) -> str:
    """The name of a collection's own HNSW index (41 characters: under Postgres's 63)."""
    return f"chunks_c_{uuid.UUID(str(collection_id)).hex}"


def nearest_statement(
    *,
    collection_id: uuid.UUID,
    vector: list[float],
    top_k: int,
    filters: dict[str, Any],
    exact: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The nearest-chunks statement (psycopg placeholders) and its parameters.

    The collection id and the width are literals in the SQL text, not parameters: a partial
    index (``WHERE collection_id = '<id>' AND dimensions = <n>``) is usable only when the
    planner can prove its predicate from constants, which a generic plan over parameters never
    can (psycopg prepares a statement after five runs, and Postgres then may switch to the
    generic plan). So a collection with its own HNSW index is searched through it, and one
    without falls to the ``collection_id`` b-tree and an exact sort of its rows. Both are safe
    to inline: a ``uuid.UUID``'s text and an ``int``.

    The collection row is joined, so row-level security and the width check come with the
    search. The vector travels in binary (pgvector's adapters, registered on every connection).
    """
    cid = str(uuid.UUID(str(collection_id)))  # canonical text of a real UUID: no injection
    dims = len(vector)
    distance = f"embedding::vector({dims}) <=> CAST(%(q)s AS vector({dims}))"
    order = f"({distance}) + 0" if exact else distance
    where = f"collection_id = '{cid}'::uuid AND dimensions = {dims}"
    if filters:
        where += " AND metadata @> CAST(%(filters)s AS jsonb)"
    sql = f"""
        SELECT c.dimensions AS collection_dimensions, h.*, d.name AS document_name
        FROM collections c
        LEFT JOIN LATERAL (
            SELECT id, document_id, chunk_index, text, metadata, {distance} AS distance
            FROM chunks WHERE {where} AND c.dimensions = {dims}
            ORDER BY {order} LIMIT %(k)s
        ) h ON true
        LEFT JOIN documents d ON d.id = h.document_id
        WHERE c.id = '{cid}'::uuid
        ORDER BY h.distance
        """
    params: dict[str, Any] = {"q": Vector(vector), "k": top_k}
    if filters:
        params["filters"] = Jsonb(filters)
    return sql, params


class CollectionRepository(Repository[Collection]):
    model = Collection

    async def lock(self, collection_id: uuid.UUID) -> bool:
        """Row-lock the collection until the transaction ends (serialises its uploads and
        document deletions); False when it is gone (deleted while we waited)."""
        stmt = select(Collection.id).where(Collection.id == collection_id).with_for_update()
        return (await self._session.scalar(stmt)) is not None


class DocumentRepository(Repository[Document]):
    model = Document

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

    async def object_keys(self, collection_id: uuid.UUID) -> list[str]:
        stmt = select(Document.object_key).where(Document.collection_id == collection_id)
        return list(await self._session.scalars(stmt))

    async def object_keys_in_project(self, project_id: uuid.UUID) -> list[str]:
        """Every document's key in the project, its collections row-locked first (so uploads
        in flight finish, or fail, before the list is read)."""
        lock = select(Collection.id).where(Collection.project_id == project_id).with_for_update()
        await self._session.execute(lock)
        stmt = (
            select(Document.object_key)
            .join(Collection, Collection.id == Document.collection_id)
            .where(Collection.project_id == project_id)
        )
        return list(await self._session.scalars(stmt))

    async def referencing(self, object_keys: Sequence[str]) -> set[str]:
        """Which of ``object_keys`` a document of the tenant still points at."""
        if not object_keys:
            return set()
        stmt = select(Document.object_key).where(Document.object_key.in_(list(object_keys)))
        return set(await self._session.scalars(stmt))

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


class ChunkRepository(Repository[Chunk]):
    model = Chunk

    async def upsert(
        self,
        rows: Sequence[dict[str, Any]],
        *,
        contents: Mapping[uuid.UUID, str] | None = None,
    ) -> int:
        """Insert chunks in one statement; rows already present (same key) are left alone.

        The key (document, chunk index, content hash, model) makes retried or repeated ingests
        write each chunk exactly once.

        ``contents`` maps each document to the content hash its chunks were cut from: rows of a
        document whose content has changed since (replaced) or that is gone are dropped. The
        documents are share-locked until the transaction ends, so a replace cannot slip in
        between the check and the insert (it waits, then deletes what was written).
        """
        if contents is not None:
            current = await self._current_contents(contents)
            rows = [r for r in rows if r["document_id"] in current]
        if not rows:
            return 0
        stmt = (
            insert(Chunk)
            .values(list(rows))
            .on_conflict_do_nothing(
                index_elements=["document_id", "chunk_index", "content_hash", "model"]
            )
            .returning(Chunk.id)  # the driver reports no row count for this statement
        )
        return len((await self._session.execute(stmt)).all())

    async def _current_contents(self, contents: Mapping[uuid.UUID, str]) -> set[uuid.UUID]:
        if not contents:
            return set()
        stmt = (
            select(Document.id, Document.content_hash)
            .where(Document.id.in_(list(contents)))
            .with_for_update(read=True)
        )
        return {i for i, h in (await self._session.execute(stmt)).tuples() if contents[i] == h}

    async def delete_for_document(self, document_id: uuid.UUID) -> int:
        """Delete every chunk of one document (its content was replaced)."""
        result = await self._session.execute(delete(Chunk).where(Chunk.document_id == document_id))
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

        Chunks are searched only when the collection's width is the vector's. A collection with
        its own HNSW index is searched through it, any other exactly (``nearest_statement``); the
        index applies metadata filters after it scans, so a filtered search can come back short
        and the caller then asks again with ``exact``. Runs on the driver: the search hot path.
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


class ObjectDeletionRepository(Repository[ObjectDeletion]):
    """The outbox of stored objects to delete, and the per-key locks that guard it."""

    model = ObjectDeletion

    async def enqueue(
        self, *, organization_id: uuid.UUID, object_keys: Sequence[str], reason: str
    ) -> list[uuid.UUID]:
        if not object_keys:
            return []
        ids = [uuid7() for _ in object_keys]
        rows = [
            {"id": i, "organization_id": organization_id, "object_key": k, "reason": reason}
            for i, k in zip(ids, object_keys, strict=True)
        ]
        await self._session.execute(insert(ObjectDeletion).values(rows))
        return ids

    async def remove(self, deletion_ids: Sequence[uuid.UUID]) -> None:
        if deletion_ids:
            stmt = delete(ObjectDeletion).where(ObjectDeletion.id.in_(list(deletion_ids)))
            await self._session.execute(stmt)

    async def claim(
        self, *, deletion_ids: Sequence[uuid.UUID] | None = None, limit: int = 100
    ) -> list[tuple[uuid.UUID, str, int]]:
        """Lock the given rows (or the tenant's due ones) until the transaction ends; rows
        another transaction holds are skipped. Returns (id, key, attempts)."""
        stmt = select(ObjectDeletion.id, ObjectDeletion.object_key, ObjectDeletion.attempts)
        if deletion_ids is not None:
            stmt = stmt.where(ObjectDeletion.id.in_(list(deletion_ids)))
        else:
            stmt = stmt.where(ObjectDeletion.next_attempt_at <= func.now()).order_by(
                ObjectDeletion.next_attempt_at
            )
        stmt = stmt.limit(limit).with_for_update(skip_locked=True)
        return list((await self._session.execute(stmt)).tuples())

    async def retry_later(self, deletion_id: uuid.UUID, *, error: str, delay_s: float) -> None:
        stmt = (
            update(ObjectDeletion)
            .where(ObjectDeletion.id == deletion_id)
            .values(
                attempts=ObjectDeletion.attempts + 1,
                last_error=error[:2000],
                next_attempt_at=func.now() + func.make_interval(0, 0, 0, 0, 0, 0, delay_s),
            )
        )
        await self._session.execute(stmt)

    async def lock_key(self, object_key: str) -> None:
        """Hold the key's lock until the transaction ends (an upload writing that object)."""
        await self._session.execute(
            text("SELECT pg_advisory_xact_lock(:c, hashtext(:k))"),
            {"c": _OBJECT_KEY_LOCK, "k": object_key},
        )

    async def try_lock_key(self, object_key: str) -> bool:
        """Take the key's lock until the transaction ends, unless someone holds it."""
        stmt = text("SELECT pg_try_advisory_xact_lock(:c, hashtext(:k))")
        return bool(await self._session.scalar(stmt, {"c": _OBJECT_KEY_LOCK, "k": object_key}))

    async def organizations_due(self, limit: int) -> list[uuid.UUID]:
        """Organizations with deletions due, across tenants (SECURITY DEFINER; ids only)."""
        stmt = text("SELECT organization_id FROM raylane_object_deletions_due(:n)")
        return list(await self._session.scalars(stmt, {"n": limit}))


class SearchIndexRepository:
    """DDL for the per-collection HNSW indexes, on an owner-role connection in autocommit.

    Only the table's owner may create or drop an index on ``chunks``, and ``CREATE INDEX
    CONCURRENTLY`` (which lets every tenant keep writing while an index builds) cannot run in a
    transaction or a function: so this takes a plain psycopg connection, never a session.
    """

    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self._conn = conn

    async def state(self, collection_id: uuid.UUID) -> bool | None:
        """True: the collection's index is built and valid; False: a build failed or is still
        running (Postgres keeps it invalid, the planner ignores it); None: there is none."""
        row = await (
            await self._conn.execute(
                "SELECT x.indisvalid FROM pg_index x WHERE x.indexrelid = to_regclass(%s)",
                (search_index_name(collection_id),),
            )
        ).fetchone()
        return None if row is None else bool(row[0])

    async def try_lock(self, collection_id: uuid.UUID) -> bool:
        """Take the collection's index lock for this connection's session, unless held."""
        row = await (
            await self._conn.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                (_SEARCH_INDEX_LOCK, str(collection_id)),
            )
        ).fetchone()
        return bool(row and row[0])

    async def unlock(self, collection_id: uuid.UUID) -> None:
        await self._conn.execute(
            "SELECT pg_advisory_unlock(%s, hashtext(%s))",
            (_SEARCH_INDEX_LOCK, str(collection_id)),
        )

    async def create(self, collection_id: uuid.UUID, *, dimensions: int, memory: str) -> None:
        """Build the collection's HNSW index without blocking writes (``CONCURRENTLY``).

        Its predicate is the one ``nearest_statement`` writes, literally, so the planner can
        prove it. ``memory`` is the build's ``maintenance_work_mem``: a graph that does not fit
        is built several times slower.
        """
        cid = str(uuid.UUID(str(collection_id)))
        dims = int(dimensions)
        await self._conn.execute(
            "SELECT set_config('maintenance_work_mem', %s, false)", (str(memory),)
        )
        await self._conn.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {search_index_name(collection_id)} "
            f"ON chunks USING hnsw ((embedding::vector({dims})) vector_cosine_ops) "
            f"WITH (m = 16, ef_construction = {int(SEARCH_INDEX_EF_CONSTRUCTION)}) "
            f"WHERE collection_id = '{cid}'::uuid AND dimensions = {dims}"
        )

    async def drop(self, collection_id: uuid.UUID, *, lock_timeout_s: float | None = None) -> None:
        """Drop the collection's index (if any) without blocking other tenants' writes; with
        ``lock_timeout_s``, give up (an error) rather than wait longer for the table."""
        if lock_timeout_s is not None:
            await self._conn.execute(
                "SELECT set_config('lock_timeout', %s, false)", (f"{int(lock_timeout_s * 1000)}ms",)
            )
        await self._conn.execute(
            f"DROP INDEX CONCURRENTLY IF EXISTS {search_index_name(collection_id)}"
        )

    async def due(self, min_rows: int) -> list[tuple[uuid.UUID, int]]:
        """Collections of every tenant with at least ``min_rows`` chunks: (id, width)."""
        cursor = await self._conn.execute(
            "SELECT collection_id, dimensions FROM raylane_search_index_due(%s)", (min_rows,)
        )
        return [(row[0], int(row[1])) for row in await cursor.fetchall()]

    async def orphans(self) -> list[uuid.UUID]:
        """Collections that still have an index but no longer exist."""
        cursor = await self._conn.execute(
            "SELECT collection_id FROM raylane_search_index_orphans()"
        )
        return [row[0] for row in await cursor.fetchall()]
