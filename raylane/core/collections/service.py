"""Collection and document use cases: create, upload (validated whole before anything is
written), idempotent re-upload, replace-by-name, delete (rows, vectors and objects).

Stored objects go through the outbox in ``objects``: a replaced or deleted document's object is
removed only after the transaction that dropped its row commits, and an upload that never
commits leaves no object behind."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.util import await_

from raylane.config import Settings
from raylane.core.audit import audit_service
from raylane.core.collections import objects
from raylane.core.collections.models import (
    Collection,
    DeletionReason,
    Document,
    DocumentStatus,
)
from raylane.core.collections.repository import (
    ChunkRepository,
    CollectionRepository,
    DocumentRepository,
    ObjectDeletionRepository,
    SearchIndexRepository,
)
from raylane.core.documents.sandbox import ParseFile, ParseLimits, parse_isolated_many
from raylane.core.projects.service import project_service
from raylane.core.rbac import Actor
from raylane.core.runs.models import Run, RunKind
from raylane.core.runs.service import run_service
from raylane.errors import InvalidInput, NotFound, PayloadTooLarge, RaylaneError
from raylane.infra import embeddings
from raylane.infra.db.paging import Page
from raylane.infra.db.session import (
    SEARCH_INDEX_BUILD_MEMORY,
    SEARCH_INDEX_MIN_ROWS,
    conflict_on_duplicate,
    session_scope,
)
from raylane.infra.storage import ObjectStore
from raylane.schemas.collections import CollectionCreate

if TYPE_CHECKING:
    from psycopg import AsyncConnection

log = logging.getLogger(__name__)

_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
}


@dataclass(frozen=True)
class Upload:
    """One file as received: its name, bytes, declared mime type and user metadata."""

    name: str
    data: bytes
    mime: str | None = None
    metadata: dict[str, Any] | None = None


def _mime(upload: Upload) -> str:
    return upload.mime or mimetypes.guess_type(upload.name)[0] or "application/octet-stream"


async def _check_parses(
    collection: Collection, uploads: list[Upload], limits: ParseLimits | None
) -> None:
    """Parse every file now, so a bad one is refused with its name, not found by the ingest job.

    Files over the collection's size limit are left to ``_validate`` (413) unparsed.
    """
    if limits is None:
        from raylane.config import get_settings

        limits = ParseLimits.from_settings(get_settings())
    # One sandbox child for the request's files (each still parsed alone under the limits).
    files = [
        ParseFile(u.data, filename=u.name, mime=u.mime)
        for u in uploads
        if len(u.data) <= collection.max_document_bytes
    ]
    for outcome in await asyncio.to_thread(parse_isolated_many, files, limits=limits):
        if isinstance(outcome, RaylaneError):
            raise outcome  # the first bad file, in upload order


def _object_key(collection: Collection, digest: str) -> str:
    return f"{collection.organization_id}/{collection.id}/{digest}"


def _check_fields(upload: Upload) -> None:
    """What Postgres could not store must be refused up front, before any object is written."""
    if len(upload.name) > 500 or "\x00" in upload.name:
        raise InvalidInput(f"{upload.name[:100]!r}: file names are at most 500 characters, no NUL")
    if upload.mime is not None and len(upload.mime) > 100:
        raise InvalidInput(f"{upload.name}: content type longer than 100 characters")
    for key, value in (upload.metadata or {}).items():
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            raise InvalidInput(f"{upload.name}: metadata field {key!r} contains a NUL character")


def check_metadata(schema: dict[str, str], metadata: dict[str, Any], *, filename: str) -> None:
    """User metadata must use the collection's fields with their declared types."""
    for key, value in metadata.items():
        if key not in schema:
            raise InvalidInput(
                f"{filename}: metadata field {key!r} is not in the collection schema"
            )
        kinds = _PY_TYPES[schema[key]]
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise InvalidInput(f"{filename}: metadata field {key!r} must be a {schema[key]}")


class CollectionService:
    async def create(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        project_id: uuid.UUID,
        data: CollectionCreate,
        settings: Settings,
    ) -> Collection:
        """Create a collection; its model, chunking and schema are fixed from now on.

        Raises:
            NotFound: the project is not the caller's.
            InvalidInput: unknown embedding model, or overlap not below the chunk size.
            Conflict: a collection with this name exists in the project.
        """
        await project_service.get(session, project_id=project_id)
        docs = settings.documents
        model = data.embedding_model or settings.embeddings.default_model
        max_tokens = data.chunk_max_tokens or docs.chunk_max_tokens
        overlap = data.chunk_overlap if data.chunk_overlap is not None else docs.chunk_overlap
        if overlap >= max_tokens:
            raise InvalidInput("chunk_overlap must be smaller than chunk_max_tokens")
        collection = Collection(
            organization_id=actor.organization_id,
            project_id=project_id,
            name=data.name,
            embedding_model=model,
            dimensions=embeddings.dimensions(model, settings),
            chunk_max_tokens=max_tokens,
            chunk_overlap=overlap,
            metadata_schema=dict(data.metadata_schema),
            max_documents=data.max_documents or docs.max_documents,
            max_document_bytes=min(
                data.max_document_bytes or docs.max_document_bytes, docs.max_document_bytes
            ),
            region=settings.region,
        )
        async with conflict_on_duplicate(session, f"collection {data.name!r}"):
            await CollectionRepository(session).add(collection)
        await audit_service.log(
            session,
            actor,
            "collection.create",
            target=collection,
            after={"name": collection.name, "model": model, "project_id": str(project_id)},
        )
        return collection

    async def get(self, session: AsyncSession, *, collection_id: uuid.UUID) -> Collection:
        collection = await CollectionRepository(session).get(collection_id)
        if collection is None:
            raise NotFound("collection", collection_id)
        return collection

    async def page(
        self, session: AsyncSession, *, project_id: uuid.UUID, limit: int, cursor: str | None
    ) -> Page[Collection]:
        await project_service.get(session, project_id=project_id)
        return await CollectionRepository(session).page(
            {"project_id": project_id}, limit=limit, cursor=cursor
        )

    async def start_ingest(
        self, session: AsyncSession, *, actor: Actor, collection_id: uuid.UUID, max_attempts: int
    ) -> Run:
        """Queue an ingest run for the collection's new and changed documents.

        The reconciler submits it once the transaction commits; poll the run for its progress.

        Raises:
            NotFound: the collection is not the caller's.
            Conflict: an ingest run is already active for the collection.
        """
        collection = await self.get(session, collection_id=collection_id)
        return await run_service.create(
            session,
            actor=actor,
            kind=RunKind.INGEST,
            target_id=collection.id,
            project_id=collection.project_id,
            max_attempts=max_attempts,
        )

    async def delete(
        self, session: AsyncSession, *, actor: Actor, collection_id: uuid.UUID, store: ObjectStore
    ) -> None:
        """Delete the collection with its documents and chunks; its stored objects go once the
        transaction commits.

        Raises:
            NotFound: the collection is not the caller's.
        """
        collection = await self.get(session, collection_id=collection_id)
        # The lock queues this behind uploads in flight, so every document is in the list.
        if not await CollectionRepository(session).lock(collection_id):
            raise NotFound("collection", collection_id)
        keys = await DocumentRepository(session).object_keys(collection_id)
        await CollectionRepository(session).delete(collection)
        await audit_service.log(
            session,
            actor,
            "collection.delete",
            target=collection,
            before={"name": collection.name, "documents": len(keys)},
        )
        await objects.delete_after_commit(
            session,
            store=store,
            organization_id=collection.organization_id,
            object_keys=keys,
            reason=DeletionReason.COLLECTION_DELETED,
        )
        search_index_service.drop_after_commit(session, collection_id)


class DocumentService:
    async def upload(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        collection_id: uuid.UUID,
        uploads: list[Upload],
        store: ObjectStore,
        limits: ParseLimits | None = None,
    ) -> list[tuple[Document, bool]]:
        """Store files in a collection. Every file is checked before any is written.

        Identical content is a no-op (returns the existing document, ``created=False``); a new
        content under an existing name replaces that document and marks it for re-embedding.

        Raises:
            NotFound: the collection is not the caller's.
            PayloadTooLarge: a file is over the collection's size limit.
            InvalidInput: empty, undecodable or binary-garbage files, bad metadata, too many
                documents, or two files with one name in the batch. The message names the file.
        """
        collection = await CollectionService().get(session, collection_id=collection_id)
        repo = DocumentRepository(session)
        # Parse before taking the lock, each file in a bounded child process: a slow or hostile
        # file costs its own request a 4xx and holds up no other upload to the collection.
        await _check_parses(collection, uploads, limits)
        # Concurrent uploads to one collection queue here, so the document limit holds.
        if not await CollectionRepository(session).lock(collection_id):
            raise NotFound("collection", collection_id)  # deleted while we waited
        for upload in uploads:
            _check_fields(upload)
        new = [u for u in uploads if not await self._known(repo, collection_id, u)]
        await self._validate(
            collection, uploads, existing=await repo.count(collection_id), new=len(new)
        )
        writes = await self._new_objects(repo, collection, uploads)
        pending = await objects.record_uploads(
            session, organization_id=collection.organization_id, object_keys=writes
        )
        results = []
        for upload in uploads:
            results.append(await self._store_one(session, actor, collection, upload, store))
        # Committed together with the documents: from then on the objects are theirs to keep.
        await ObjectDeletionRepository(session).remove(pending)
        return results

    @staticmethod
    async def _new_objects(
        repo: DocumentRepository, collection: Collection, uploads: list[Upload]
    ) -> list[str]:
        """Keys of the objects this upload will write (content not stored in the collection)."""
        keys = []
        for upload in uploads:
            digest = hashlib.sha256(upload.data).hexdigest()
            if await repo.by_hash(collection.id, digest) is None:
                keys.append(_object_key(collection, digest))
        return keys

    @staticmethod
    async def _known(repo: DocumentRepository, collection_id: uuid.UUID, upload: Upload) -> bool:
        """Whether the upload repeats or replaces a stored document (it adds none)."""
        digest = hashlib.sha256(upload.data).hexdigest()
        return (
            await repo.by_hash(collection_id, digest) is not None
            or await repo.by_name(collection_id, upload.name) is not None
        )

    async def _validate(
        self, collection: Collection, uploads: list[Upload], *, existing: int, new: int
    ) -> None:
        names = [u.name for u in uploads]
        if len(set(names)) != len(names):
            raise InvalidInput("two files in one upload have the same name")
        if existing + new > collection.max_documents:
            raise InvalidInput(
                f"collection holds at most {collection.max_documents} documents "
                f"({existing} stored, {new} new in this upload)"
            )
        for upload in uploads:
            if len(upload.data) > collection.max_document_bytes:
                raise PayloadTooLarge(
                    f"{upload.name}: {len(upload.data)} bytes is over the collection's limit "
                    f"of {collection.max_document_bytes} bytes"
                )
            check_metadata(collection.metadata_schema, upload.metadata or {}, filename=upload.name)

    async def _store_one(
        self,
        session: AsyncSession,
        actor: Actor,
        collection: Collection,
        upload: Upload,
        store: ObjectStore,
    ) -> tuple[Document, bool]:
        repo = DocumentRepository(session)
        digest = hashlib.sha256(upload.data).hexdigest()
        same = await repo.by_hash(collection.id, digest)
        if same is not None:
            return same, False
        key = _object_key(collection, digest)
        await asyncio.to_thread(store.put, key, upload.data, content_type=_mime(upload))
        document = await repo.by_name(collection.id, upload.name)
        created = document is None
        old_key = None if document is None else document.object_key
        if document is None:
            document = Document(
                organization_id=collection.organization_id,
                collection_id=collection.id,
                name=upload.name,
            )
        document.size, document.content_hash, document.mime = (
            len(upload.data),
            digest,
            _mime(upload),
        )
        document.metadata_ = dict(upload.metadata or {})
        document.status, document.object_key, document.error = DocumentStatus.PENDING, key, None
        document.chunk_count = 0
        if created:
            await repo.add(document)
        else:
            await repo.flush()
        if not created:
            # The old content's chunks must not answer searches. Deleted after the row update:
            # an ingest writing chunks share-locks the row, so none of its writes lands between.
            await ChunkRepository(session).delete_for_document(document.id)
        await audit_service.log(
            session,
            actor,
            "document.create" if created else "document.replace",
            target=document,
            after={"name": upload.name, "size": len(upload.data), "sha256": digest},
        )
        if old_key and old_key != key:
            await objects.delete_after_commit(
                session,
                store=store,
                organization_id=collection.organization_id,
                object_keys=[old_key],
                reason=DeletionReason.REPLACED,
            )
        return document, True

    async def get(self, session: AsyncSession, *, document_id: uuid.UUID) -> Document:
        document = await DocumentRepository(session).get(document_id)
        if document is None:
            raise NotFound("document", document_id)
        return document

    async def page(
        self, session: AsyncSession, *, collection_id: uuid.UUID, limit: int, cursor: str | None
    ) -> Page[Document]:
        await CollectionService().get(session, collection_id=collection_id)
        return await DocumentRepository(session).page(
            {"collection_id": collection_id}, limit=limit, cursor=cursor
        )

    async def delete(
        self, session: AsyncSession, *, actor: Actor, document_id: uuid.UUID, store: ObjectStore
    ) -> None:
        """Delete a document: its row, its chunks and vectors (cascade), and (once the
        transaction commits) its stored object.

        Raises:
            NotFound: the document is not the caller's.
        """
        document = await self.get(session, document_id=document_id)
        # Queued with the collection's uploads: none may find this document while it goes.
        await CollectionRepository(session).lock(document.collection_id)
        await DocumentRepository(session).delete(document)
        await audit_service.log(
            session,
            actor,
            "document.delete",
            target=document,
            before={"name": document.name, "sha256": document.content_hash},
        )
        await objects.delete_after_commit(
            session,
            store=store,
            organization_id=document.organization_id,
            object_keys=[document.object_key],
            reason=DeletionReason.DOCUMENT_DELETED,
        )


_DROPS = "raylane.search_index_drops"
_DROPS_HOOKED = "raylane.search_index_drops_hooked"


@asynccontextmanager
async def _owner_connection() -> AsyncIterator[AsyncConnection[Any]]:
    """A connection as the schema owner, in autocommit: index DDL needs both."""
    import psycopg

    from raylane.infra.db.urls import libpq_url, owner_url

    conn = await psycopg.AsyncConnection.connect(libpq_url(owner_url()), autocommit=True)
    try:
        yield conn
    finally:
        await conn.close()


class SearchIndexService:
    """Upkeep of the per-collection HNSW indexes (see docs/architecture.md, "Search").

    A collection with at least ``SEARCH_INDEX_MIN_ROWS`` chunks gets a partial HNSW index of its
    own, so its searches never compete with other collections' rows for the candidate list;
    smaller ones are searched exactly. Builds and drops run as the owner role (only a table's
    owner may index it) with ``CONCURRENTLY``, so no tenant's writes wait for them. Where the
    owner role is not reachable they fail, are logged, and search stays exact (correct, slower).
    """

    async def refresh(
        self,
        *,
        organization_id: uuid.UUID,
        collection_id: uuid.UUID,
        min_rows: int | None = None,
    ) -> bool:
        """Give the collection its own index once it has crossed the threshold (after an
        ingest), and drop the indexes of deleted collections. True when the index is in place.

        Never raises for the index: a failed build leaves the collection on exact search.
        """
        threshold = SEARCH_INDEX_MIN_ROWS if min_rows is None else min_rows
        async with session_scope(organization_id=organization_id) as session:
            collection = await CollectionRepository(session).get(collection_id)
            rows = await ChunkRepository(session).count(collection_id=collection_id)
            dimensions = collection.dimensions if collection is not None else 0
        try:
            await self.drop_orphans()
            if collection is None or rows < threshold:
                return False
            built = await self._build(collection_id, dimensions)
            # Deleted while it was building: its after-commit drop may have found the lock held.
            async with session_scope(organization_id=organization_id) as session:
                gone = await CollectionRepository(session).get(collection_id) is None
            if gone:
                await self.drop(collection_id)
                return False
            return built
        except Exception:
            log.warning(
                "search index of collection %s not built; its searches stay exact",
                collection_id,
                exc_info=True,
            )
            return False

    async def _build(self, collection_id: uuid.UUID, dimensions: int) -> bool:
        async with _owner_connection() as conn:
            repo = SearchIndexRepository(conn)
            if await repo.state(collection_id):
                return True
            if not await repo.try_lock(collection_id):
                return False  # another ingest of this collection is building it
            try:
                if await repo.state(collection_id) is False:
                    await repo.drop(collection_id)  # a failed build leaves an invalid index
                await repo.create(
                    collection_id, dimensions=dimensions, memory=SEARCH_INDEX_BUILD_MEMORY
                )
            finally:
                await repo.unlock(collection_id)
            return bool(await repo.state(collection_id))

    async def drop(self, collection_id: uuid.UUID) -> None:
        """Drop a deleted collection's index, unless a build of it holds the lock (that build
        drops it when it finds the collection gone)."""
        async with _owner_connection() as conn:
            repo = SearchIndexRepository(conn)
            if await repo.try_lock(collection_id):
                try:
                    # DROP INDEX CONCURRENTLY queues behind any other index build on chunks:
                    # give up soon, leave it to the next sweep rather than wait a whole build.
                    await repo.drop(collection_id, lock_timeout_s=2)
                finally:
                    await repo.unlock(collection_id)

    async def drop_orphans(self) -> int:
        """Drop the indexes of collections that no longer exist (a drop that failed)."""
        async with _owner_connection() as conn:
            orphans = await SearchIndexRepository(conn).orphans()
        for collection_id in orphans:
            await self.drop(collection_id)
        return len(orphans)

    async def reconcile(self, *, min_rows: int | None = None) -> int:
        """Every tenant's collections over the threshold get their index; orphans go. For
        operators (after an upgrade from the shared index) and sweeps. Returns builds done."""
        threshold = SEARCH_INDEX_MIN_ROWS if min_rows is None else min_rows
        await self.drop_orphans()
        async with _owner_connection() as conn:
            repo = SearchIndexRepository(conn)
            # Only what is missing (or left invalid by a failed build) counts as due.
            due = [(c, d) for c, d in await repo.due(threshold) if not await repo.state(c)]
        built = 0
        for collection_id, dimensions in due:
            built += await self._build(collection_id, dimensions)
        return built

    def drop_after_commit(self, session: AsyncSession, collection_id: uuid.UUID) -> None:
        """Drop the collection's index once the session's transaction commits (the rows it
        covered are gone by then; before, a rollback could bring them back)."""
        session.info.setdefault(_DROPS, []).append(collection_id)
        if not session.info.get(_DROPS_HOOKED):
            session.info[_DROPS_HOOKED] = True
            event.listen(session.sync_session, "after_commit", _drop_indexes)
            event.listen(session.sync_session, "after_rollback", _forget_drops)


def _drop_indexes(sync_session: Session) -> None:
    if sync_session.get_nested_transaction() is not None:
        return  # a savepoint was released: the transaction itself may still roll back
    for collection_id in sync_session.info.pop(_DROPS, []):
        try:
            # Commit runs in SQLAlchemy's greenlet, so the drop can be awaited here.
            await_(search_index_service.drop(collection_id))
        except Exception:  # the rows are gone already: the next sweep drops the index
            log.warning("search index of %s left to the sweep", collection_id, exc_info=True)


def _forget_drops(sync_session: Session) -> None:
    if sync_session.get_nested_transaction() is None:
        sync_session.info.pop(_DROPS, None)


collection_service = CollectionService()
search_index_service = SearchIndexService()
document_service = DocumentService()
