from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Response, UploadFile
from pydantic import WithJsonSchema

from raylane.core.collections.search import search_service
from raylane.core.collections.service import Upload, collection_service, document_service
from raylane.core.documents.sandbox import ParseLimits
from raylane.core.rbac import Permission
from raylane.errors import InvalidInput
from raylane.schemas.collections import (
    CollectionCreate,
    CollectionRead,
    DocumentBatch,
    DocumentRead,
    DocumentUploaded,
    SearchHit,
    SearchRequest,
    SearchResults,
    metadata_per_file,
)
from raylane.schemas.common import Page
from raylane.schemas.runs import RunRead
from raylane.serve.deps import ActorDep, PageDep, PlatformDep, SessionDep, page_of, require
from raylane.serve.idempotency import IdempotencyDep
from raylane.serve.routing import Route, nul_at, nul_error, parse_json

router = APIRouter(prefix="/api/v1", tags=["collections"], route_class=Route)


@router.post(
    "/projects/{project_id}/collections",
    status_code=201,
    dependencies=[require(Permission.COLLECTION_WRITE)],
)
async def create_collection(
    project_id: uuid.UUID,
    data: CollectionCreate,
    session: SessionDep,
    actor: ActorDep,
    platform: PlatformDep,
) -> CollectionRead:
    """Create a collection; its embedding model, chunking and metadata schema are fixed."""
    collection = await collection_service.create(
        session, actor=actor, project_id=project_id, data=data, settings=platform.settings
    )
    return CollectionRead.model_validate(collection)


@router.get(
    "/projects/{project_id}/collections", dependencies=[require(Permission.COLLECTION_READ)]
)
async def list_collections(
    project_id: uuid.UUID, session: SessionDep, page: PageDep
) -> Page[CollectionRead]:
    result = await collection_service.page(
        session, project_id=project_id, limit=page.limit, cursor=page.cursor
    )
    return page_of(result, CollectionRead)  # type: ignore[no-any-return]


@router.get("/collections/{collection_id}", dependencies=[require(Permission.COLLECTION_READ)])
async def get_collection(collection_id: uuid.UUID, session: SessionDep) -> CollectionRead:
    collection = await collection_service.get(session, collection_id=collection_id)
    return CollectionRead.model_validate(collection)


@router.delete(
    "/collections/{collection_id}",
    status_code=204,
    dependencies=[require(Permission.COLLECTION_WRITE)],
)
async def delete_collection(
    collection_id: uuid.UUID, session: SessionDep, actor: ActorDep, platform: PlatformDep
) -> Response:
    """Delete the collection, its documents, vectors and stored objects."""
    await collection_service.delete(
        session, actor=actor, collection_id=collection_id, store=platform.store
    )
    return Response(status_code=204)


def _metadata_for(raw: str | None, names: list[str]) -> dict[str, dict[str, Any]]:
    """The multipart ``metadata`` field, parsed strictly, then read by the shared rule."""
    if not raw:
        return {}
    try:
        value = parse_json(raw)  # strict: no NaN, no nesting past the limit
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"metadata is not valid JSON: {exc}") from exc
    loc = nul_at(value)
    if loc is not None:
        raise nul_error(("body", "metadata", *loc))
    try:
        return metadata_per_file(value, names)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


@router.post(
    "/collections/{collection_id}/documents",
    status_code=201,
    dependencies=[require(Permission.COLLECTION_WRITE)],
)
async def upload_documents(
    collection_id: uuid.UUID,
    session: SessionDep,
    actor: ActorDep,
    platform: PlatformDep,
    files: Annotated[list[UploadFile], File(description="one or more files", min_length=1)],
    # A JSON object in a form field: the document calls it an object, which multipart sends as
    # JSON (OpenAPI's default encoding for objects).
    metadata: Annotated[
        str | None,
        WithJsonSchema({"type": "object"}),
        Form(description="JSON object, or {filename: object}"),
    ] = None,
) -> list[DocumentUploaded]:
    """Upload files (text, Markdown, HTML, PDF, JSONL). All are checked before any is stored."""
    names = [f.filename or "" for f in files]
    if not all(names):
        raise InvalidInput("every file needs a filename")
    bad = nul_at(names)
    if bad is not None:
        raise nul_error(("body", "files", *bad))
    meta = _metadata_for(metadata, names)
    uploads = [
        Upload(
            name=f.filename or "",
            data=await f.read(),
            mime=f.content_type,
            metadata=meta.get(f.filename or ""),
        )
        for f in files
    ]
    return await _store(session, actor, platform, collection_id, uploads)


@router.post(
    "/collections/{collection_id}/documents/text",
    status_code=201,
    dependencies=[require(Permission.COLLECTION_WRITE)],
)
async def add_text_documents(
    collection_id: uuid.UUID,
    data: DocumentBatch,
    session: SessionDep,
    actor: ActorDep,
    platform: PlatformDep,
) -> list[DocumentUploaded]:
    """Add documents given as text in JSON."""
    uploads = [
        Upload(name=d.name, data=d.text.encode(), mime=d.mime, metadata=d.metadata)
        for d in data.documents
    ]
    return await _store(session, actor, platform, collection_id, uploads)


async def _store(
    session: Any, actor: Any, platform: Any, collection_id: uuid.UUID, uploads: list[Upload]
) -> list[DocumentUploaded]:
    results = await document_service.upload(
        session,
        actor=actor,
        collection_id=collection_id,
        uploads=uploads,
        store=platform.store,
        limits=ParseLimits.from_settings(platform.settings),
    )
    return [
        DocumentUploaded(document=DocumentRead.model_validate(d), created=c) for d, c in results
    ]


@router.get(
    "/collections/{collection_id}/documents", dependencies=[require(Permission.COLLECTION_READ)]
)
async def list_documents(
    collection_id: uuid.UUID, session: SessionDep, page: PageDep
) -> Page[DocumentRead]:
    result = await document_service.page(
        session, collection_id=collection_id, limit=page.limit, cursor=page.cursor
    )
    return page_of(result, DocumentRead)  # type: ignore[no-any-return]


@router.get("/documents/{document_id}", dependencies=[require(Permission.COLLECTION_READ)])
async def get_document(document_id: uuid.UUID, session: SessionDep) -> DocumentRead:
    return DocumentRead.model_validate(await document_service.get(session, document_id=document_id))


@router.delete(
    "/documents/{document_id}", status_code=204, dependencies=[require(Permission.COLLECTION_WRITE)]
)
async def delete_document(
    document_id: uuid.UUID, session: SessionDep, actor: ActorDep, platform: PlatformDep
) -> Response:
    """Delete a document, its chunks and vectors, and its stored object."""
    await document_service.delete(
        session, actor=actor, document_id=document_id, store=platform.store
    )
    return Response(status_code=204)


@router.post(
    "/collections/{collection_id}/ingest",
    status_code=202,
    dependencies=[require(Permission.COLLECTION_WRITE)],
)
async def ingest_collection(
    collection_id: uuid.UUID,
    session: SessionDep,
    actor: ActorDep,
    platform: PlatformDep,
    idem: IdempotencyDep,
) -> RunRead:
    """Start an ingest run (new and changed documents only); poll GET /runs/{id}."""

    async def start() -> RunRead:
        run = await collection_service.start_ingest(
            session,
            actor=actor,
            collection_id=collection_id,
            max_attempts=platform.settings.runs.max_attempts,
        )
        return RunRead.model_validate(run)

    return await idem.once(session, actor, RunRead, start)


@router.post(
    "/collections/{collection_id}/search", dependencies=[require(Permission.COLLECTION_READ)]
)
async def search_collection(
    collection_id: uuid.UUID, data: SearchRequest, session: SessionDep, platform: PlatformDep
) -> SearchResults:
    """Vector or hybrid search; filters match metadata fields exactly."""
    hits = await search_service.search(
        session,
        collection_id=collection_id,
        query=data.query,
        vector=data.vector,
        top_k=data.top_k,
        filters=data.filters,
        mode=data.mode,
        embed=platform.embed,
    )
    return SearchResults(
        collection_id=collection_id,
        mode=data.mode,
        hits=[SearchHit.model_validate(h) for h in hits],
    )
