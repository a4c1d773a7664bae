"""Datasets: versioned labeled data (JSON Lines or CSV uploads, or collection snapshots)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Final

from raylane.client._http import AsyncHttpClient, HttpClient, raise_for_error
from raylane.client._resources import (
    DEFAULT_PAGE_SIZE,
    AsyncResource,
    Call,
    Collection,
    Ident,
    SyncResource,
    body,
    segment,
)
from raylane.client.resources.documents import FileInput, file_parts
from raylane.client.resources.projects import PROJECTS
from raylane.schemas.common import Page
from raylane.schemas.datasets import (
    DatasetCreate,
    DatasetFormat,
    DatasetRead,
    DatasetVersionRead,
    DatasetVersionUploaded,
)

DATASETS: Final = Collection("/api/v1/datasets", DatasetRead)


class _Datasets:
    """Request shapes of the dataset routes; both resource groups send them."""

    @staticmethod
    def in_project(project_id: Ident) -> Collection[DatasetRead]:
        return Collection(f"{PROJECTS.item(project_id)}/datasets", DatasetRead)

    @staticmethod
    def create(
        project_id: Ident,
        name: str,
        description: str | None,
        collection_id: Ident | None,
        label_field: str | None,
    ) -> Call[DatasetRead]:
        data = body(
            DatasetCreate,
            name=name,
            description=description,
            collection_id=None if collection_id is None else str(collection_id),
            label_field=label_field,
        )
        return _Datasets.in_project(project_id).create(data, DatasetRead)

    @staticmethod
    def versions(dataset_id: Ident) -> Collection[DatasetVersionRead]:
        return Collection(f"{DATASETS.item(dataset_id)}/versions", DatasetVersionRead)

    @staticmethod
    def upload(
        dataset_id: Ident, file: FileInput, format: DatasetFormat | None
    ) -> Call[DatasetVersionUploaded]:
        parts = [("file", file_parts([file])[0][1])]
        form = None if format is None or format == "auto" else {"format": format}
        path = f"{DATASETS.item(dataset_id)}/upload"
        return Call("POST", path, DatasetVersionUploaded.model_validate, files=parts, form=form)

    @staticmethod
    def snapshot(dataset_id: Ident) -> Call[DatasetVersionUploaded]:
        path = f"{DATASETS.item(dataset_id)}/snapshot"
        return Call("POST", path, DatasetVersionUploaded.model_validate)

    @staticmethod
    def content_path(dataset_id: Ident, version: int | str) -> str:
        return f"{DATASETS.item(dataset_id)}/versions/{segment(str(version))}/content"


def download(http: HttpClient, path: str) -> bytes:
    """GET a file's bytes (not JSON)."""
    response = http.send("GET", path)
    raise_for_error(response)
    return response.content


async def adownload(http: AsyncHttpClient, path: str) -> bytes:
    response = await http.send("GET", path)
    raise_for_error(response)
    return response.content


class Datasets(SyncResource):
    """Versioned labeled datasets of a project."""

    def create(
        self,
        project_id: Ident,
        *,
        name: str,
        description: str | None = None,
        collection_id: Ident | None = None,
        label_field: str | None = None,
    ) -> DatasetRead:
        """Create a dataset; with ``collection_id`` and ``label_field`` it can also snapshot that
        collection's labeled chunks.

        Raises:
            NotFound: the project or collection does not exist or is another organization's.
            Conflict: the project has a dataset with this name.
            ValidationError: a bad name, or a collection without a label field.
        """
        return self._run(
            _Datasets.create(project_id, name, description, collection_id, label_field)
        )

    def list(
        self,
        project_id: Ident,
        *,
        name: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[DatasetRead]:
        """One page of the project's datasets (``name``: only the one with that name)."""
        return self._run(
            _Datasets.in_project(project_id).list(limit=limit, cursor=cursor, name=name)
        )

    def iter(
        self, project_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[DatasetRead]:
        """Every dataset of the project."""
        found = _Datasets.in_project(project_id)
        return self._pages(lambda cursor: found.list(limit=page_size, cursor=cursor))

    def get(self, dataset_id: Ident) -> DatasetRead:
        """One dataset.

        Raises:
            NotFound: it does not exist or belongs to another organization.
        """
        return self._run(DATASETS.get(dataset_id))

    def upload(
        self, dataset_id: Ident, file: FileInput, *, format: DatasetFormat | None = None
    ) -> DatasetVersionUploaded:
        """Upload a JSON Lines or CSV file (``text``, ``label``, optional ``split``) as the next
        version; the same bytes again return the existing version (``created`` false).

        Args:
            dataset_id: The dataset.
            file: A path, or a ``(name, bytes)`` tuple.
            format: ``jsonl`` or ``csv``; by default from the name, then the content.

        Raises:
            ValidationError: a bad row (the message names its line); nothing was stored.
            PayloadTooLarge: the file is over the upload limit.
            NotFound: the dataset does not exist or belongs to another organization.
        """
        return self._run(_Datasets.upload(dataset_id, file, format))

    def snapshot(self, dataset_id: Ident) -> DatasetVersionUploaded:
        """Make a version from the dataset's collection (its labeled, ingested chunks).

        Raises:
            ValidationError: the dataset has no collection, or fewer than two labels.
        """
        return self._run(_Datasets.snapshot(dataset_id))

    def versions(
        self, dataset_id: Ident, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[DatasetVersionRead]:
        """One page of versions, newest first."""
        return self._run(_Datasets.versions(dataset_id).list(limit=limit, cursor=cursor))

    def get_version(self, dataset_id: Ident, version: int) -> DatasetVersionRead:
        """One version by number.

        Raises:
            NotFound: no such dataset or version.
        """
        return self._run(_Datasets.versions(dataset_id).get(str(version)))

    def download(self, dataset_id: Ident, version: int) -> bytes:
        """The version's rows as JSON Lines (``{"text", "label"[, "split"]}`` per line)."""
        return download(self._http, _Datasets.content_path(dataset_id, version))


class AsyncDatasets(AsyncResource, twin=Datasets):
    async def create(
        self,
        project_id: Ident,
        *,
        name: str,
        description: str | None = None,
        collection_id: Ident | None = None,
        label_field: str | None = None,
    ) -> DatasetRead:
        return await self._run(
            _Datasets.create(project_id, name, description, collection_id, label_field)
        )

    async def list(
        self,
        project_id: Ident,
        *,
        name: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[DatasetRead]:
        return await self._run(
            _Datasets.in_project(project_id).list(limit=limit, cursor=cursor, name=name)
        )

    def iter(
        self, project_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[DatasetRead]:
        found = _Datasets.in_project(project_id)
        return self._pages(lambda cursor: found.list(limit=page_size, cursor=cursor))

    async def get(self, dataset_id: Ident) -> DatasetRead:
        return await self._run(DATASETS.get(dataset_id))

    async def upload(
        self, dataset_id: Ident, file: FileInput, *, format: DatasetFormat | None = None
    ) -> DatasetVersionUploaded:
        return await self._run(_Datasets.upload(dataset_id, file, format))

    async def snapshot(self, dataset_id: Ident) -> DatasetVersionUploaded:
        return await self._run(_Datasets.snapshot(dataset_id))

    async def versions(
        self, dataset_id: Ident, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[DatasetVersionRead]:
        return await self._run(_Datasets.versions(dataset_id).list(limit=limit, cursor=cursor))

    async def get_version(self, dataset_id: Ident, version: int) -> DatasetVersionRead:
        return await self._run(_Datasets.versions(dataset_id).get(str(version)))

    async def download(self, dataset_id: Ident, version: int) -> bytes:
        return await adownload(self._http, _Datasets.content_path(dataset_id, version))
