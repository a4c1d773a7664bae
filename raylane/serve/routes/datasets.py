"""Datasets: create, upload versions (multipart, validated whole before anything is stored),
snapshot a collection, list and read versions, download a version's rows."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile

from raylane.core.datasets.service import DatasetUpload, dataset_service
from raylane.core.rbac import Permission
from raylane.errors import InvalidInput
from raylane.schemas.common import NUL_FREE, Page
from raylane.schemas.datasets import (
    DatasetCreate,
    DatasetFormat,
    DatasetRead,
    DatasetVersionRead,
    DatasetVersionUploaded,
)
from raylane.serve.deps import ActorDep, PageDep, PlatformDep, SessionDep, page_of, require
from raylane.serve.routing import Route, nul_at, nul_error

router = APIRouter(prefix="/api/v1", tags=["datasets"], route_class=Route)
READ = [require(Permission.DATASET_READ)]
WRITE = [require(Permission.DATASET_WRITE)]
NDJSON = "application/x-ndjson"


@router.post("/projects/{project_id}/datasets", status_code=201, dependencies=WRITE)
async def create_dataset(
    project_id: uuid.UUID, data: DatasetCreate, session: SessionDep, actor: ActorDep
) -> DatasetRead:
    """Create a dataset; with ``collection_id`` and ``label_field`` it snapshots a collection."""
    dataset = await dataset_service.create(
        session,
        actor=actor,
        project_id=project_id,
        name=data.name,
        description=data.description,
        collection_id=data.collection_id,
        label_field=data.label_field,
    )
    return DatasetRead.model_validate(dataset)


@router.get("/projects/{project_id}/datasets", dependencies=READ)
async def list_datasets(
    project_id: uuid.UUID,
    session: SessionDep,
    page: PageDep,
    name: Annotated[str | None, Query(max_length=200, pattern=NUL_FREE)] = None,
) -> Page[DatasetRead]:
    """The project's datasets, oldest first; ``name`` finds one by its exact name."""
    result = await dataset_service.page(
        session, project_id=project_id, name=name, limit=page.limit, cursor=page.cursor
    )
    return page_of(result, DatasetRead)  # type: ignore[no-any-return]


@router.get("/datasets/{dataset_id}", dependencies=READ)
async def get_dataset(dataset_id: uuid.UUID, session: SessionDep) -> DatasetRead:
    return DatasetRead.model_validate(await dataset_service.get(session, dataset_id=dataset_id))


@router.post("/datasets/{dataset_id}/upload", status_code=201, dependencies=WRITE)
async def upload_dataset_version(
    dataset_id: uuid.UUID,
    session: SessionDep,
    actor: ActorDep,
    platform: PlatformDep,
    file: Annotated[UploadFile, File(description="JSON Lines or CSV: text, label[, split]")],
    format: Annotated[
        DatasetFormat, Form(description="auto: from the file name, then the content")
    ] = "auto",
) -> DatasetVersionUploaded:
    """Upload a file as the dataset's next version; the same bytes again return that version.

    Every row is checked first: a bad one is a 422 naming its line, and nothing is stored.
    """
    name = file.filename or None
    if name is not None and nul_at(name) is not None:
        raise nul_error(("body", "file"))
    data = await file.read()
    if not data:
        raise InvalidInput("the file is empty")
    version, created = await dataset_service.upload(
        session,
        actor=actor,
        dataset_id=dataset_id,
        upload=DatasetUpload(filename=name, data=data, format=None if format == "auto" else format),
        store=platform.store,
        max_bytes=platform.settings.documents.max_upload_bytes,
    )
    return DatasetVersionUploaded(
        version=DatasetVersionRead.model_validate(version), created=created
    )


@router.post("/datasets/{dataset_id}/snapshot", status_code=201, dependencies=WRITE)
async def snapshot_dataset(
    dataset_id: uuid.UUID, session: SessionDep, actor: ActorDep, platform: PlatformDep
) -> DatasetVersionUploaded:
    """Make a version from the dataset's collection: one row per ingested chunk whose
    document's metadata holds the label field; unchanged chunks return the last version."""
    version, created = await dataset_service.materialise(
        session, actor=actor, dataset_id=dataset_id, store=platform.store
    )
    return DatasetVersionUploaded(
        version=DatasetVersionRead.model_validate(version), created=created
    )


@router.get("/datasets/{dataset_id}/versions", dependencies=READ)
async def list_dataset_versions(
    dataset_id: uuid.UUID, session: SessionDep, page: PageDep
) -> Page[DatasetVersionRead]:
    """The dataset's versions, newest first, with row, label and split counts."""
    result = await dataset_service.versions(
        session, dataset_id=dataset_id, limit=page.limit, cursor=page.cursor
    )
    return page_of(result, DatasetVersionRead)  # type: ignore[no-any-return]


@router.get("/datasets/{dataset_id}/versions/{dataset_version}", dependencies=READ)
async def get_dataset_version(
    dataset_id: uuid.UUID, dataset_version: str, session: SessionDep
) -> DatasetVersionRead:
    """One version by number."""
    found = await dataset_service.version(session, dataset_id=dataset_id, version=dataset_version)
    return DatasetVersionRead.model_validate(found)


@router.get(
    "/datasets/{dataset_id}/versions/{dataset_version}/content",
    dependencies=READ,
    response_class=Response,
    responses={200: {"content": {NDJSON: {"schema": {"type": "string"}}}}},
)
async def download_dataset_version(
    dataset_id: uuid.UUID, dataset_version: str, session: SessionDep, platform: PlatformDep
) -> Response:
    """The version's rows as JSON Lines: ``{"text", "label"[, "split"]}`` per line."""
    found = await dataset_service.version(session, dataset_id=dataset_id, version=dataset_version)
    data = await dataset_service.read_rows(found, store=platform.store)
    return Response(content=data, media_type=NDJSON)
