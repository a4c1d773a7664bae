"""Collections of documents, each in a project: request shapes (create, ingest, search), and
the sync and async groups.

Example::

    with Client() as client:
        col = client.collections.create(project_id, name="faq", metadata_schema={"team": "string"})
        client.documents.upload(col.id, ["intro.md", "faq.pdf"], metadata={"team": "support"})
        run = client.runs.wait(client.collections.ingest(col.id).id, timeout=600)
        for hit in client.collections.search(col.id, "parental leave", top_k=3).hits:
            print(f"{hit.score:.3f}", hit.document_name, hit.text[:80])
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Final, Literal

from raylane.client._resources import (
    DEFAULT_PAGE_SIZE,
    AsyncResource,
    Call,
    Collection,
    Ident,
    SyncResource,
    body,
    present,
    segment,
)
from raylane.client.resources.runs import asend_creation, idempotent, send_creation
from raylane.schemas.collections import (
    CollectionCreate,
    CollectionRead,
    SearchRequest,
    SearchResults,
)
from raylane.schemas.common import Page
from raylane.schemas.runs import RunRead

SearchMode = Literal["vector", "hybrid"]
Filters = Mapping[str, str | int | float | bool]

COLLECTIONS: Final = Collection("/api/v1/collections", CollectionRead)


class _Collections:
    """The request shapes of ``/collections`` that are more than a :class:`Collection` call;
    both resource groups below send them."""

    @staticmethod
    def in_project(project_id: Ident) -> Collection[CollectionRead]:
        """``/projects/{id}/collections``: where collections are created and listed."""
        return Collection(f"/api/v1/projects/{segment(project_id)}/collections", CollectionRead)

    @staticmethod
    def create(project_id: Ident, **fields: Any) -> Call[CollectionRead]:
        """``POST /projects/{id}/collections`` with a locally validated body; a field given as None
        is left out (the server's default)."""
        schema = fields.get("metadata_schema")
        if schema is not None:
            fields["metadata_schema"] = dict(schema)
        data = body(CollectionCreate, **present(**fields))
        return _Collections.in_project(project_id).create(data, CollectionRead)

    @staticmethod
    def ingest(collection_id: Ident, key: str | None = None) -> Call[RunRead]:
        """``POST /collections/{id}/ingest`` with an ``Idempotency-Key``: 202 and the new run."""
        path = f"{COLLECTIONS.item(collection_id)}/ingest"
        return idempotent(Call("POST", path, RunRead.model_validate), key)

    @staticmethod
    def search(
        collection_id: Ident,
        *,
        query: str | None,
        vector: Sequence[float] | None,
        top_k: int,
        filters: Filters | None,
        mode: str,
    ) -> Call[SearchResults]:
        """``POST /collections/{id}/search`` with a locally validated :class:`SearchRequest`."""
        data = body(
            SearchRequest,
            **present(
                query=query,
                vector=list(vector) if vector is not None else None,
                filters=dict(filters) if filters is not None else None,
            ),
            top_k=top_k,
            mode=mode,
        )
        path = f"{COLLECTIONS.item(collection_id)}/search"
        return Call("POST", path, SearchResults.model_validate, json=data)


class Collections(SyncResource):
    """Collections of documents, each in a project, with a fixed embedding model."""

    def create(
        self,
        project_id: Ident,
        *,
        name: str,
        embedding_model: str | None = None,
        chunk_max_tokens: int | None = None,
        chunk_overlap: int | None = None,
        metadata_schema: Mapping[str, str] | None = None,
        max_documents: int | None = None,
        max_document_bytes: int | None = None,
    ) -> CollectionRead:
        """Create a collection; its model, chunking and metadata schema cannot change later.

        Args:
            project_id: The project to create it in.
            name: Unique within the project.
            embedding_model: Default: the server's.
            chunk_max_tokens: Chunk size, 16 to 512 tokens (default: the server's).
            chunk_overlap: Tokens shared by neighbouring chunks, below ``chunk_max_tokens``.
            metadata_schema: Document metadata fields and their types (``string``,
                ``number``, ``integer``, ``boolean``); search filters use them.
            max_documents: Default: the server's limit.
            max_document_bytes: Default: the server's limit.

        Raises:
            NotFound: the project does not exist or belongs to another organization.
            Conflict: a collection with this name exists in the project.
            ValidationError: a field is out of range, or the overlap is not below the size.
        """
        return self._run(
            _Collections.create(
                project_id,
                name=name,
                embedding_model=embedding_model,
                chunk_max_tokens=chunk_max_tokens,
                chunk_overlap=chunk_overlap,
                metadata_schema=metadata_schema,
                max_documents=max_documents,
                max_document_bytes=max_document_bytes,
            )
        )

    def list(
        self, project_id: Ident, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[CollectionRead]:
        """One page of a project's collections; pass ``next_cursor`` on.

        Raises:
            NotFound: the project does not exist or belongs to another organization.
        """
        return self._run(_Collections.in_project(project_id).list(limit=limit, cursor=cursor))

    def iter(
        self, project_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[CollectionRead]:
        """Every collection of a project, fetching pages of ``page_size`` as needed."""
        shape = _Collections.in_project(project_id)
        return self._pages(lambda cursor: shape.list(limit=page_size, cursor=cursor))

    def get(self, collection_id: Ident) -> CollectionRead:
        """Get one collection.

        Raises:
            NotFound: it does not exist or belongs to another organization.
        """
        return self._run(COLLECTIONS.get(collection_id))

    def delete(self, collection_id: Ident) -> None:
        """Delete a collection with its documents, chunks, vectors and stored files.

        Raises:
            NotFound: it does not exist or belongs to another organization.
        """
        self._run(COLLECTIONS.delete(collection_id))

    def ingest(self, collection_id: Ident, *, idempotency_key: str | None = None) -> RunRead:
        """Start indexing the documents added or changed since the last ingest.

        Args:
            idempotency_key: Names this request: sent again (by you, or by this call's own
                retries of a lost answer) it returns the same run instead of a second one.
                Default: a new random key per call.

        Returns:
            The new run (``queued``); follow it with :meth:`Runs.wait`.

        Raises:
            NotFound: the collection does not exist or belongs to another organization.
            Conflict: an ingest run of this collection is already active.
        """
        return send_creation(self._run, _Collections.ingest(collection_id, idempotency_key))

    def search(
        self,
        collection_id: Ident,
        query: str | None = None,
        *,
        vector: Sequence[float] | None = None,
        top_k: int = 5,
        filters: Filters | None = None,
        mode: SearchMode = "vector",
    ) -> SearchResults:
        """Find the chunks closest to a text query or to a vector.

        Args:
            collection_id: The collection to search.
            query: Text, embedded with the collection's model. Give this or ``vector``.
            vector: An embedding of the collection's width.
            top_k: Hits to return, 1 to 100.
            filters: Metadata fields that hits must match exactly, e.g. ``{"team": "hr"}``.
            mode: ``vector``, or ``hybrid`` (vector and full-text ranks fused; needs a query).

        Raises:
            NotFound: the collection does not exist or belongs to another organization.
            ValidationError: neither or both of query and vector, hybrid without a query, or a
                vector of the wrong width.
        """
        return self._run(
            _Collections.search(
                collection_id, query=query, vector=vector, top_k=top_k, filters=filters, mode=mode
            )
        )


class AsyncCollections(AsyncResource, twin=Collections):
    async def create(
        self,
        project_id: Ident,
        *,
        name: str,
        embedding_model: str | None = None,
        chunk_max_tokens: int | None = None,
        chunk_overlap: int | None = None,
        metadata_schema: Mapping[str, str] | None = None,
        max_documents: int | None = None,
        max_document_bytes: int | None = None,
    ) -> CollectionRead:
        return await self._run(
            _Collections.create(
                project_id,
                name=name,
                embedding_model=embedding_model,
                chunk_max_tokens=chunk_max_tokens,
                chunk_overlap=chunk_overlap,
                metadata_schema=metadata_schema,
                max_documents=max_documents,
                max_document_bytes=max_document_bytes,
            )
        )

    async def list(
        self, project_id: Ident, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[CollectionRead]:
        return await self._run(_Collections.in_project(project_id).list(limit=limit, cursor=cursor))

    def iter(
        self, project_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[CollectionRead]:
        shape = _Collections.in_project(project_id)
        return self._pages(lambda cursor: shape.list(limit=page_size, cursor=cursor))

    async def get(self, collection_id: Ident) -> CollectionRead:
        return await self._run(COLLECTIONS.get(collection_id))

    async def delete(self, collection_id: Ident) -> None:
        await self._run(COLLECTIONS.delete(collection_id))

    async def ingest(self, collection_id: Ident, *, idempotency_key: str | None = None) -> RunRead:
        return await asend_creation(self._run, _Collections.ingest(collection_id, idempotency_key))

    async def search(
        self,
        collection_id: Ident,
        query: str | None = None,
        *,
        vector: Sequence[float] | None = None,
        top_k: int = 5,
        filters: Filters | None = None,
        mode: SearchMode = "vector",
    ) -> SearchResults:
        return await self._run(
            _Collections.search(
                collection_id, query=query, vector=vector, top_k=top_k, filters=filters, mode=mode
            )
        )
