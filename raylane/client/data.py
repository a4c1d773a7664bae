"""Blocking resource groups for a project's data: collections, documents, search and runs.

Example::

    with Client() as client:
        col = client.collections.create(project_id, name="faq", metadata_schema={"team": "string"})
        client.documents.upload(col.id, ["intro.md", "faq.pdf"], metadata={"team": "support"})
        run = client.runs.wait(client.collections.ingest(col.id).id, timeout=600)
        for hit in client.collections.search(col.id, "parental leave", top_k=3).hits:
            print(f"{hit.score:.3f}", hit.document_name, hit.text[:80])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

from raylane.client import _data
from raylane.client._data import COLLECTIONS, DOCUMENTS, RUNS, FileInput, Poller
from raylane.client._resources import DEFAULT_PAGE_SIZE, Ident, SyncResource
from raylane.client.errors import RaylaneError
from raylane.schemas.collections import (
    CollectionRead,
    DocumentRead,
    DocumentUploaded,
    SearchResults,
)
from raylane.schemas.common import Page
from raylane.schemas.runs import RunLogs, RunRead

SearchMode = Literal["vector", "hybrid"]
Filters = Mapping[str, str | int | float | bool]


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
        fields = {
            "name": name,
            "embedding_model": embedding_model,
            "chunk_max_tokens": chunk_max_tokens,
            "chunk_overlap": chunk_overlap,
            "metadata_schema": dict(metadata_schema) if metadata_schema is not None else None,
            "max_documents": max_documents,
            "max_document_bytes": max_document_bytes,
        }
        return self._run(_data.create_collection(project_id, fields))

    def list(
        self, project_id: Ident, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[CollectionRead]:
        """One page of a project's collections; pass ``next_cursor`` on.

        Raises:
            NotFound: the project does not exist or belongs to another organization.
        """
        return self._run(_data.project_collections(project_id).list(limit=limit, cursor=cursor))

    def iter(
        self, project_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[CollectionRead]:
        """Every collection of a project, fetching pages of ``page_size`` as needed."""
        shape = _data.project_collections(project_id)
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

    def ingest(self, collection_id: Ident) -> RunRead:
        """Start indexing the documents added or changed since the last ingest.

        Returns:
            The new run (``queued``); follow it with :meth:`Runs.wait`.

        Raises:
            NotFound: the collection does not exist or belongs to another organization.
            Conflict: an ingest run of this collection is already active.
        """
        return self._run(_data.ingest(collection_id))

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
        call = _data.search(
            collection_id, query=query, vector=vector, top_k=top_k, filters=filters, mode=mode
        )
        return self._run(call)


class Documents(SyncResource):
    """Documents of a collection. Adding them does not index them: run an ingest after."""

    def upload(
        self,
        collection_id: Ident,
        files: FileInput | Sequence[FileInput],
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[DocumentUploaded]:
        """Upload files (text, Markdown, HTML, PDF, JSON Lines) in one multipart request.

        The server checks every file before it stores any. Identical content is not stored
        twice (``created`` is False); new content under an existing name replaces it.

        Args:
            collection_id: The collection to add to.
            files: Paths, or ``(name, content)`` / ``(name, content, content_type)`` tuples.
            metadata: One object for every file, or ``{filename: object}``; fields must be
                in the collection's metadata schema.

        Returns:
            One entry per file, in the order given.

        Raises:
            NotFound: the collection does not exist or belongs to another organization.
            PayloadTooLarge: a file is over the collection's size limit, or the request over
                the server's.
            ValidationError: a file is empty, unreadable as text or PDF, or has metadata the
                schema does not allow (the message names the file); the collection is full;
                or, before sending, no file or two files with one name.
            OSError: a path cannot be read.
        """
        return self._run(_data.upload(collection_id, files, metadata))

    def add_texts(
        self, collection_id: Ident, documents: Iterable[Mapping[str, Any]]
    ) -> list[DocumentUploaded]:
        """Add documents given as text: ``{"name", "text", "metadata"?, "mime"?}`` each.

        Raises:
            NotFound: the collection does not exist or belongs to another organization.
            ValidationError: a document is malformed, or as for :meth:`upload`.
        """
        return self._run(_data.add_texts(collection_id, documents))

    def list(
        self, collection_id: Ident, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[DocumentRead]:
        """One page of a collection's documents; pass ``next_cursor`` on.

        Raises:
            NotFound: the collection does not exist or belongs to another organization.
        """
        shape = _data.collection_documents(collection_id)
        return self._run(shape.list(limit=limit, cursor=cursor))

    def iter(
        self, collection_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[DocumentRead]:
        """Every document of a collection, fetching pages of ``page_size`` as needed."""
        shape = _data.collection_documents(collection_id)
        return self._pages(lambda cursor: shape.list(limit=page_size, cursor=cursor))

    def get(self, document_id: Ident) -> DocumentRead:
        """Get one document: its status, chunk count and last ingest error.

        Raises:
            NotFound: it does not exist or belongs to another organization.
        """
        return self._run(DOCUMENTS.get(document_id))

    def delete(self, document_id: Ident) -> None:
        """Delete a document with its chunks, vectors and stored file.

        Raises:
            NotFound: it does not exist or belongs to another organization.
        """
        self._run(DOCUMENTS.delete(document_id))


class Runs(SyncResource):
    """Runs: background work (such as an ingest) with a status, progress and logs."""

    def list(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        project_id: Ident | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[RunRead]:
        """One page of runs, newest first, matching every filter given."""
        filters = _data.run_filters(kind, status, project_id)
        return self._run(RUNS.list(limit=limit, cursor=cursor, **filters))

    def iter(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        project_id: Ident | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[RunRead]:
        """Every matching run, newest first; the filters are those of :meth:`list`."""
        filters = _data.run_filters(kind, status, project_id)
        return self._pages(lambda cursor: RUNS.list(limit=page_size, cursor=cursor, **filters))

    def get(self, run_id: Ident) -> RunRead:
        """Get one run: status, attempts and ``progress`` (``documents_done``,
        ``documents_total``, ``chunks_done``, ``chunks_total``, ``updated_at``).

        Raises:
            NotFound: it does not exist or belongs to another organization.
        """
        return self._run(RUNS.get(run_id))

    def logs(self, run_id: Ident) -> RunLogs:
        """The logs of the run's latest attempt.

        Raises:
            NotFound: it does not exist or belongs to another organization.
        """
        return self._run(_data.run_logs(run_id))

    def cancel(self, run_id: Ident) -> RunRead:
        """Cancel a run: a queued one ends now, a running one once its job has stopped.

        Returns:
            The run after the request: ``cancelling``, ``cancelled``, or unchanged when it
            had already ended.

        Raises:
            NotFound: it does not exist or belongs to another organization.
        """
        return self._run(_data.cancel_run(run_id))

    def wait(
        self,
        run_id: Ident,
        *,
        timeout: float | None = None,
        poll: float = 1.0,
        on_progress: Callable[[RunRead], object] | None = None,
    ) -> RunRead:
        """Poll a run until it ends.

        Up to three failed polls in a row are retried when the failure is transient
        (unreachable server, 503, 429 after its ``Retry-After``).

        Args:
            run_id: The run to follow.
            timeout: Seconds to wait at most (default: no limit).
            poll: Seconds between polls.
            on_progress: Called with the run after every poll, the last one included.

        Returns:
            The run, ``succeeded``.

        Raises:
            RunFailed: the run ended ``failed`` or ``cancelled``; ``.run`` is its final state.
            TimeoutError: it had not ended after ``timeout`` seconds (the run goes on).
            NotFound: it does not exist or belongs to another organization.
            ValueError: ``poll`` or ``timeout`` is negative.
        """
        poller = Poller(run_id, timeout=timeout, poll=poll)
        while True:
            try:
                run = self.get(run_id)
            except RaylaneError as exc:
                time.sleep(poller.retry(exc))
                continue
            if on_progress is not None:
                on_progress(run)
            if poller.finished(run):
                return run
            time.sleep(poller.pause())
