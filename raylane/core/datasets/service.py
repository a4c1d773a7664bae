"""Dataset use cases: create, upload a version (validated whole before anything is stored),
materialise a version from a collection, list and read versions.

Versions are content-addressed: the SHA-256 of the bytes received (of the normalised rows for a
collection snapshot) names a version within its dataset, so the same bytes give the same version
back and store nothing. Objects go through the collections' outbox: a version whose transaction
never commits leaves no object behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.audit import audit_service
from raylane.core.collections import objects
from raylane.core.collections.repository import ObjectDeletionRepository
from raylane.core.collections.service import collection_service
from raylane.core.datasets import rows
from raylane.core.datasets.models import Dataset, DatasetSource, DatasetVersion
from raylane.core.datasets.repository import DatasetRepository, DatasetVersionRepository
from raylane.core.projects.service import project_service
from raylane.core.rbac import Actor
from raylane.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from raylane.infra.db.paging import Page
from raylane.infra.db.session import conflict_on_duplicate
from raylane.infra.ids import uuid7
from raylane.infra.storage import ObjectStore


@dataclass(frozen=True)
class DatasetUpload:
    """One uploaded file: its name, bytes and (optionally) its declared format."""

    filename: str | None
    data: bytes
    format: str | None = None


def version_number(value: str | int) -> int:
    """A version as a path gives it: digits only; anything else names no version (404)."""
    text = str(value)
    if not text.isdigit() or len(text) > 9:
        raise NotFound("dataset version", value)
    return int(text)


def _object_key(dataset: Dataset) -> str:
    # A fresh name per write (not the content hash): an upload that never commits leaves its
    # outbox record, and that record must never name the object of a version that did commit.
    return f"{dataset.organization_id}/datasets/{dataset.id}/{uuid7()}.jsonl"


def _summary(dataset: Dataset) -> dict[str, Any]:
    return {"name": dataset.name, "source": dataset.source, "project_id": str(dataset.project_id)}


class DatasetService:
    async def create(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        project_id: uuid.UUID,
        name: str,
        description: str | None = None,
        collection_id: uuid.UUID | None = None,
        label_field: str | None = None,
    ) -> Dataset:
        """Create a dataset in a project; with ``collection_id`` its versions are snapshots of
        that collection's chunks labeled by the metadata field ``label_field``.

        Raises:
            NotFound: the project (or collection) is not the caller's.
            InvalidInput: a collection without a label field, or one from another project, or
                a label field that is not in the collection's metadata schema.
            Conflict: a dataset with this name exists in the project.
        """
        await project_service.get(session, project_id=project_id)
        source = DatasetSource.UPLOAD
        if collection_id is not None:
            collection = await collection_service.get(session, collection_id=collection_id)
            if collection.project_id != project_id:
                raise InvalidInput("the collection belongs to another project")
            if not label_field:
                raise InvalidInput("a collection dataset needs label_field")
            if collection.metadata_schema and label_field not in collection.metadata_schema:
                raise InvalidInput(f"label_field {label_field!r} is not in the collection schema")
            source = DatasetSource.COLLECTION
        elif label_field is not None:
            raise InvalidInput("label_field applies to a collection dataset only")
        dataset = Dataset(
            organization_id=actor.organization_id,
            project_id=project_id,
            name=name,
            description=description,
            source=source,
            collection_id=collection_id,
            label_field=label_field,
            latest_version=0,
        )
        async with conflict_on_duplicate(session, f"dataset {name!r}"):
            await DatasetRepository(session).add(dataset)
        await audit_service.log(
            session, actor, "dataset.create", target=dataset, after=_summary(dataset)
        )
        return dataset

    async def get(self, session: AsyncSession, *, dataset_id: uuid.UUID) -> Dataset:
        """One dataset of the caller's organization.

        Raises:
            NotFound: missing, or another organization's.
        """
        dataset = await DatasetRepository(session).get(dataset_id)
        if dataset is None:
            raise NotFound("dataset", dataset_id)
        return dataset

    async def page(
        self,
        session: AsyncSession,
        *,
        project_id: uuid.UUID,
        name: str | None = None,
        limit: int,
        cursor: str | None,
    ) -> Page[Dataset]:
        await project_service.get(session, project_id=project_id)
        return await DatasetRepository(session).page(
            {"project_id": project_id, "name": name}, limit=limit, cursor=cursor
        )

    async def upload(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        dataset_id: uuid.UUID,
        upload: DatasetUpload,
        store: ObjectStore,
        max_bytes: int,
    ) -> tuple[DatasetVersion, bool]:
        """Add a version from an uploaded JSON Lines or CSV file, or find the one it repeats.
        Any dataset takes uploads; one linked to a collection also takes snapshots.

        Every row is checked before anything is stored.

        Returns:
            The version, and whether it was created (False: the same bytes were uploaded
            before, and that version is returned).

        Raises:
            NotFound: the dataset is not the caller's.
            InvalidInput: a row is bad (the message names its line), or the rows hold fewer
                than two labels.
            PayloadTooLarge: the file is over ``max_bytes``.
        """
        dataset = await self.get(session, dataset_id=dataset_id)
        if len(upload.data) > max_bytes:
            raise PayloadTooLarge(f"{len(upload.data)} bytes is over the limit of {max_bytes}")
        digest = hashlib.sha256(upload.data).hexdigest()
        same = await DatasetVersionRepository(session).by_hash(dataset_id, digest)
        if same is not None:
            return same, False
        parsed = await asyncio.to_thread(
            rows.parse, upload.data, filename=upload.filename, format=upload.format
        )
        origin = {"filename": upload.filename} if upload.filename else {}
        return await self._add_version(
            session, actor, dataset, digest, parsed, store, size=len(upload.data), origin=origin
        )

    async def materialise(
        self, session: AsyncSession, *, actor: Actor, dataset_id: uuid.UUID, store: ObjectStore
    ) -> tuple[DatasetVersion, bool]:
        """Snapshot the dataset's collection as a version: one row per chunk whose document's
        metadata has the label field (its ``split`` field, when valid, as the split).

        Returns:
            The version, and whether it was created (False: the chunks are unchanged since
            that version).

        Raises:
            NotFound: the dataset (or its collection) is not the caller's or is gone.
            Conflict: the dataset has no collection, or its collection too few labeled chunks
                (ingest it first): the request is fine, the dataset's state refuses it.
        """
        dataset = await self.get(session, dataset_id=dataset_id)
        if dataset.source != DatasetSource.COLLECTION or dataset.label_field is None:
            raise Conflict("this dataset is linked to no collection: upload versions instead")
        if dataset.collection_id is None:
            raise NotFound("collection", "of this dataset")
        found = await DatasetVersionRepository(session).collection_rows(
            dataset.collection_id, dataset.label_field
        )
        picked = [
            rows.Row(text, str(label), split if split in rows.SPLITS else None)
            for text, label, split in found
            if isinstance(label, str | int) and not isinstance(label, bool) and str(label).strip()
        ]
        try:
            parsed = rows.normalise(picked, format="collection")
        except InvalidInput as exc:
            raise Conflict(f"the collection cannot be a dataset yet: {exc.detail}") from exc
        digest = hashlib.sha256(parsed.data).hexdigest()
        same = await DatasetVersionRepository(session).by_hash(dataset_id, digest)
        if same is not None:
            return same, False
        origin = {"collection_id": str(dataset.collection_id), "chunks": len(found)}
        return await self._add_version(
            session, actor, dataset, digest, parsed, store, size=len(parsed.data), origin=origin
        )

    async def _add_version(
        self,
        session: AsyncSession,
        actor: Actor,
        dataset: Dataset,
        digest: str,
        parsed: rows.Parsed,
        store: ObjectStore,
        *,
        size: int,
        origin: dict[str, Any],
    ) -> tuple[DatasetVersion, bool]:
        repo = DatasetVersionRepository(session)
        # One version at a time per dataset; a concurrent upload of the same bytes finds ours.
        locked = await DatasetRepository(session).lock(dataset.id)
        if locked is None:
            raise NotFound("dataset", dataset.id)
        same = await repo.by_hash(dataset.id, digest)
        if same is not None:
            return same, False
        key = _object_key(dataset)
        pending = await objects.record_uploads(
            session, organization_id=dataset.organization_id, object_keys=[key]
        )
        await asyncio.to_thread(store.put, key, parsed.data, content_type="application/x-ndjson")
        locked.latest_version += 1
        version = DatasetVersion(
            organization_id=dataset.organization_id,
            dataset_id=dataset.id,
            version=locked.latest_version,
            content_hash=digest,
            format=parsed.format,
            size=size,
            object_key=key,
            row_count=parsed.row_count,
            label_counts=parsed.label_counts,
            splits=parsed.splits,
            origin=origin,
            created_by=actor.user_id,
        )
        await repo.add(version)
        await ObjectDeletionRepository(session).remove(pending)
        await audit_service.log(
            session,
            actor,
            "dataset.version.create",
            target=version,
            after={
                "dataset_id": str(dataset.id),
                "version": version.version,
                "sha256": digest,
                "rows": parsed.row_count,
            },
        )
        return version, True

    async def versions(
        self, session: AsyncSession, *, dataset_id: uuid.UUID, limit: int, cursor: str | None
    ) -> Page[DatasetVersion]:
        """The dataset's versions, newest first.

        Raises:
            NotFound: the dataset is not the caller's.
        """
        await self.get(session, dataset_id=dataset_id)
        return await DatasetVersionRepository(session).page(
            {"dataset_id": dataset_id}, limit=limit, cursor=cursor
        )

    async def version(
        self, session: AsyncSession, *, dataset_id: uuid.UUID, version: str | int
    ) -> DatasetVersion:
        """One version by number.

        Raises:
            NotFound: the dataset is not the caller's, or has no such version.
        """
        await self.get(session, dataset_id=dataset_id)
        number = version_number(version)
        found = await DatasetVersionRepository(session).by_number(dataset_id, number)
        if found is None:
            raise NotFound("dataset version", version)
        return found

    async def version_by_id(
        self, session: AsyncSession, *, dataset_version_id: uuid.UUID
    ) -> DatasetVersion:
        """A version by its id (what training runs and tracking runs name).

        Raises:
            NotFound: missing, or another organization's.
        """
        found = await DatasetVersionRepository(session).get(dataset_version_id)
        if found is None:
            raise NotFound("dataset version", dataset_version_id)
        return found

    async def read_rows(self, version: DatasetVersion, *, store: ObjectStore) -> bytes:
        """The version's normalised JSON Lines."""
        return await asyncio.to_thread(store.get, version.object_key)


dataset_service = DatasetService()
