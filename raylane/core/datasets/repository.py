"""All SQL for datasets and their versions."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from raylane.core.collections.models import Chunk, Document
from raylane.core.datasets.models import Dataset, DatasetVersion
from raylane.infra.db.repository import Repository


class DatasetRepository(Repository[Dataset]):
    model = Dataset

    async def lock(self, dataset_id: uuid.UUID) -> Dataset | None:
        """Row-lock the dataset until the transaction ends: versions of one dataset are made
        one at a time (numbers without gaps, one version per content)."""
        stmt = select(Dataset).where(Dataset.id == dataset_id).with_for_update()
        return (await self._session.scalars(stmt)).first()


class DatasetVersionRepository(Repository[DatasetVersion]):
    model = DatasetVersion
    newest_first = True

    async def by_hash(self, dataset_id: uuid.UUID, content_hash: str) -> DatasetVersion | None:
        stmt = select(DatasetVersion).where(
            DatasetVersion.dataset_id == dataset_id, DatasetVersion.content_hash == content_hash
        )
        return (await self._session.scalars(stmt)).first()

    async def by_number(self, dataset_id: uuid.UUID, version: int) -> DatasetVersion | None:
        stmt = select(DatasetVersion).where(
            DatasetVersion.dataset_id == dataset_id, DatasetVersion.version == version
        )
        return (await self._session.scalars(stmt)).first()

    async def object_keys_in_project(self, project_id: uuid.UUID) -> list[str]:
        """Every dataset version's key in the project, its datasets row-locked first (an
        upload holds its dataset's lock until it commits, so uploads in flight finish, or
        fail, before the list is read)."""
        lock = select(Dataset.id).where(Dataset.project_id == project_id).with_for_update()
        await self._session.execute(lock)
        stmt = (
            select(DatasetVersion.object_key)
            .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
            .where(Dataset.project_id == project_id)
        )
        return list(await self._session.scalars(stmt))

    async def collection_rows(
        self, collection_id: uuid.UUID, label_field: str
    ) -> list[tuple[str, Any, Any]]:
        """(text, label, split) of every chunk of the collection whose document's metadata has
        ``label_field``, in document then chunk order (so the same chunks give the same bytes)."""
        label = Chunk.metadata_[label_field]
        stmt = (
            select(Chunk.text, label, Chunk.metadata_["split"])
            .join(Document, Document.id == Chunk.document_id)
            .where(Chunk.collection_id == collection_id, Chunk.metadata_.has_key(label_field))
            .order_by(Document.id, Chunk.chunk_index)
        )
        return [(t, lab, s) for t, lab, s in (await self._session.execute(stmt)).all()]
