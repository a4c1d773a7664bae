"""Documents of a collection: request shapes (multipart upload, texts), and the sync and async
groups. Adding documents does not index them: run an ingest after."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from pydantic import TypeAdapter

from raylane.client._http import Files
from raylane.client._resources import (
    DEFAULT_PAGE_SIZE,
    AsyncResource,
    Call,
    Collection,
    Ident,
    SyncResource,
    body,
)
from raylane.client.errors import ValidationError
from raylane.client.resources.collections import COLLECTIONS
from raylane.schemas.collections import DocumentBatch, DocumentRead, DocumentUploaded
from raylane.schemas.common import Page

FileInput = str | os.PathLike[str] | tuple[str, bytes] | tuple[str, bytes, str]
"""One file to upload: a path, or ``(name, content)`` / ``(name, content, content_type)``."""


def document_wire(data: Any) -> Any:
    """A document as sent (``metadata``) in the shape :class:`DocumentRead` reads
    (``metadata_``, the name of the ORM attribute it is also built from)."""
    if isinstance(data, dict) and "metadata" in data and "metadata_" not in data:
        return {**data, "metadata_": data["metadata"]}
    return data


_UPLOADED: Final = TypeAdapter(list[DocumentUploaded])


def parse_uploaded(data: Any) -> list[DocumentUploaded]:
    """The answer of an upload: one entry per file, in the order sent."""
    if isinstance(data, list):
        data = [
            {**item, "document": document_wire(item.get("document"))}
            if isinstance(item, dict)
            else item
            for item in data
        ]
    return _UPLOADED.validate_python(data)


DOCUMENTS: Final = Collection("/api/v1/documents", DocumentRead, wire=document_wire)


class _Documents:
    """The request shapes of ``/documents`` that are more than a :class:`Collection` call;
    both resource groups below send them."""

    @staticmethod
    def in_collection(collection_id: Ident) -> Collection[DocumentRead]:
        """``/collections/{id}/documents``: where documents are uploaded and listed."""
        path = f"{COLLECTIONS.item(collection_id)}/documents"
        return Collection(path, DocumentRead, wire=document_wire)

    @staticmethod
    def upload(
        collection_id: Ident,
        files: FileInput | Sequence[FileInput],
        metadata: Mapping[str, Any] | None,
    ) -> Call[list[DocumentUploaded]]:
        """``POST /collections/{id}/documents`` as multipart: ``files`` parts and ``metadata``.

        Raises:
            ValidationError: no file, a malformed entry, a name given twice, or metadata that is
                not a JSON object.
            OSError: a path cannot be read.
        """
        parts = file_parts(files)
        form = None if metadata is None else {"metadata": metadata_field(metadata)}
        path = _Documents.in_collection(collection_id).path
        return Call("POST", path, parse_uploaded, files=parts, form=form)

    @staticmethod
    def add_texts(
        collection_id: Ident, documents: Iterable[Mapping[str, Any]]
    ) -> Call[list[DocumentUploaded]]:
        """``POST /collections/{id}/documents/text`` with a locally validated
        :class:`DocumentBatch`."""
        data = body(DocumentBatch, documents=[dict(d) for d in documents])
        path = f"{_Documents.in_collection(collection_id).path}/text"
        return Call("POST", path, parse_uploaded, json=data)


def file_parts(files: FileInput | Sequence[FileInput]) -> Files:
    """The ``files`` parts of an upload, read now; paths are named by their last component."""
    entries: Sequence[Any] = [files] if isinstance(files, str | os.PathLike) else files
    parts: Files = []
    seen: set[str] = set()
    for entry in entries:
        name, part = _part(entry)
        if name in seen:
            raise ValidationError(f"two files are named {name!r}; names must be unique")
        seen.add(name)
        parts.append(("files", part))
    if not parts:
        raise ValidationError("give at least one file")
    return parts


def _part(entry: Any) -> tuple[str, tuple[Any, ...]]:
    if isinstance(entry, str | os.PathLike):
        path = Path(entry)
        return path.name, (path.name, path.read_bytes())
    if (
        isinstance(entry, tuple)
        and len(entry) in (2, 3)
        and isinstance(entry[0], str)
        and isinstance(entry[1], bytes | bytearray | memoryview)
        and (len(entry) == 2 or isinstance(entry[2], str))
    ):
        if not entry[0]:
            raise ValidationError("every file needs a name")
        return entry[0], (entry[0], bytes(entry[1]), *entry[2:])
    raise ValidationError(
        f"{type(entry).__name__} is not a file: give a path or a (name, bytes[, mime]) tuple"
    )


def metadata_field(metadata: Mapping[str, Any]) -> str:
    """The ``metadata`` form field: one JSON object for every file, or ``{filename: object}``."""
    if not isinstance(metadata, Mapping):
        raise ValidationError("metadata must be a mapping (a JSON object)")
    try:
        return json.dumps(dict(metadata), separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"metadata is not JSON-serializable: {exc}") from None


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
        return self._run(_Documents.upload(collection_id, files, metadata))

    def add_texts(
        self, collection_id: Ident, documents: Iterable[Mapping[str, Any]]
    ) -> list[DocumentUploaded]:
        """Add documents given as text: ``{"name", "text", "metadata"?, "mime"?}`` each.

        Raises:
            NotFound: the collection does not exist or belongs to another organization.
            ValidationError: a document is malformed, or as for :meth:`upload`.
        """
        return self._run(_Documents.add_texts(collection_id, documents))

    def list(
        self, collection_id: Ident, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[DocumentRead]:
        """One page of a collection's documents; pass ``next_cursor`` on.

        Raises:
            NotFound: the collection does not exist or belongs to another organization.
        """
        shape = _Documents.in_collection(collection_id)
        return self._run(shape.list(limit=limit, cursor=cursor))

    def iter(
        self, collection_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[DocumentRead]:
        """Every document of a collection, fetching pages of ``page_size`` as needed."""
        shape = _Documents.in_collection(collection_id)
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


class AsyncDocuments(AsyncResource, twin=Documents):
    async def upload(
        self,
        collection_id: Ident,
        files: FileInput | Sequence[FileInput],
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[DocumentUploaded]:
        # Reading the files is blocking disk work: keep it off the event loop.
        call = await asyncio.to_thread(_Documents.upload, collection_id, files, metadata)
        return await self._run(call)

    async def add_texts(
        self, collection_id: Ident, documents: Iterable[Mapping[str, Any]]
    ) -> list[DocumentUploaded]:
        return await self._run(_Documents.add_texts(collection_id, documents))

    async def list(
        self, collection_id: Ident, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[DocumentRead]:
        return await self._run(
            _Documents.in_collection(collection_id).list(limit=limit, cursor=cursor)
        )

    def iter(
        self, collection_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[DocumentRead]:
        shape = _Documents.in_collection(collection_id)
        return self._pages(lambda cursor: shape.list(limit=page_size, cursor=cursor))

    async def get(self, document_id: Ident) -> DocumentRead:
        return await self._run(DOCUMENTS.get(document_id))

    async def delete(self, document_id: Ident) -> None:
        await self._run(DOCUMENTS.delete(document_id))
