"""Non-blocking forms of :mod:`raylane.client.data`: collections, documents, search and runs.

Each method takes the same arguments, returns the same models and raises the same errors as
its blocking twin, whose docstring it carries.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from raylane.client import _data, data
from raylane.client._data import COLLECTIONS, DOCUMENTS, RUNS, FileInput, Poller
from raylane.client._resources import DEFAULT_PAGE_SIZE, AsyncResource, Ident, mirrors
from raylane.client.data import Filters, SearchMode
from raylane.client.errors import RaylaneError
from raylane.schemas.collections import (
    CollectionRead,
    DocumentRead,
    DocumentUploaded,
    SearchResults,
)
from raylane.schemas.common import Page
from raylane.schemas.runs import RunLogs, RunRead


class AsyncCollections(AsyncResource):
    """Async form of :class:`raylane.client.data.Collections`."""

    @mirrors(data.Collections.create)
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
        fields = {
            "name": name,
            "embedding_model": embedding_model,
            "chunk_max_tokens": chunk_max_tokens,
            "chunk_overlap": chunk_overlap,
            "metadata_schema": dict(metadata_schema) if metadata_schema is not None else None,
            "max_documents": max_documents,
            "max_document_bytes": max_document_bytes,
        }
        return await self._run(_data.create_collection(project_id, fields))

    @mirrors(data.Collections.list)
    async def list(
        self, project_id: Ident, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[CollectionRead]:
        shape = _data.project_collections(project_id)
        return await self._run(shape.list(limit=limit, cursor=cursor))

    @mirrors(data.Collections.iter)
    def iter(
        self, project_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[CollectionRead]:
        shape = _data.project_collections(project_id)
        return self._pages(lambda cursor: shape.list(limit=page_size, cursor=cursor))

    @mirrors(data.Collections.get)
    async def get(self, collection_id: Ident) -> CollectionRead:
        return await self._run(COLLECTIONS.get(collection_id))

    @mirrors(data.Collections.delete)
    async def delete(self, collection_id: Ident) -> None:
        await self._run(COLLECTIONS.delete(collection_id))

    @mirrors(data.Collections.ingest)
    async def ingest(self, collection_id: Ident) -> RunRead:
        return await self._run(_data.ingest(collection_id))

    @mirrors(data.Collections.search)
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
        call = _data.search(
            collection_id, query=query, vector=vector, top_k=top_k, filters=filters, mode=mode
        )
        return await self._run(call)


class AsyncDocuments(AsyncResource):
    """Async form of :class:`raylane.client.data.Documents`."""

    @mirrors(data.Documents.upload)
    async def upload(
        self,
        collection_id: Ident,
        files: FileInput | Sequence[FileInput],
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[DocumentUploaded]:
        # Reading the files is blocking disk work: keep it off the event loop.
        call = await asyncio.to_thread(_data.upload, collection_id, files, metadata)
        return await self._run(call)

    @mirrors(data.Documents.add_texts)
    async def add_texts(
        self, collection_id: Ident, documents: Iterable[Mapping[str, Any]]
    ) -> list[DocumentUploaded]:
        return await self._run(_data.add_texts(collection_id, documents))

    @mirrors(data.Documents.list)
    async def list(
        self, collection_id: Ident, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[DocumentRead]:
        shape = _data.collection_documents(collection_id)
        return await self._run(shape.list(limit=limit, cursor=cursor))

    @mirrors(data.Documents.iter)
    def iter(
        self, collection_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[DocumentRead]:
        shape = _data.collection_documents(collection_id)
        return self._pages(lambda cursor: shape.list(limit=page_size, cursor=cursor))

    @mirrors(data.Documents.get)
    async def get(self, document_id: Ident) -> DocumentRead:
        return await self._run(DOCUMENTS.get(document_id))

    @mirrors(data.Documents.delete)
    async def delete(self, document_id: Ident) -> None:
        await self._run(DOCUMENTS.delete(document_id))


class AsyncRuns(AsyncResource):
    """Async form of :class:`raylane.client.data.Runs`; ``on_progress`` of :meth:`wait` may
    also be a coroutine function."""

    @mirrors(data.Runs.list)
    async def list(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        project_id: Ident | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[RunRead]:
        filters = _data.run_filters(kind, status, project_id)
        return await self._run(RUNS.list(limit=limit, cursor=cursor, **filters))

    @mirrors(data.Runs.iter)
    def iter(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        project_id: Ident | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[RunRead]:
        filters = _data.run_filters(kind, status, project_id)
        return self._pages(lambda cursor: RUNS.list(limit=page_size, cursor=cursor, **filters))

    @mirrors(data.Runs.get)
    async def get(self, run_id: Ident) -> RunRead:
        return await self._run(RUNS.get(run_id))

    @mirrors(data.Runs.logs)
    async def logs(self, run_id: Ident) -> RunLogs:
        return await self._run(_data.run_logs(run_id))

    @mirrors(data.Runs.cancel)
    async def cancel(self, run_id: Ident) -> RunRead:
        return await self._run(_data.cancel_run(run_id))

    @mirrors(data.Runs.wait)
    async def wait(
        self,
        run_id: Ident,
        *,
        timeout: float | None = None,
        poll: float = 1.0,
        on_progress: Callable[[RunRead], object | Awaitable[object]] | None = None,
    ) -> RunRead:
        poller = Poller(run_id, timeout=timeout, poll=poll)
        while True:
            try:
                run = await self.get(run_id)
            except RaylaneError as exc:
                await asyncio.sleep(poller.retry(exc))
                continue
            if on_progress is not None:
                result = on_progress(run)
                if isinstance(result, Awaitable):
                    await result
            if poller.finished(run):
                return run
            await asyncio.sleep(poller.pause())
