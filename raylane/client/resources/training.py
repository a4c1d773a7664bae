"""Training runs of a project and predictions from served models: request shapes, and the sync
and async groups. A training run is a run: follow it with ``client.runs.wait``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

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
from raylane.schemas.common import Page
from raylane.schemas.training import (
    PredictRequest,
    PredictResponse,
    TrainingRunCreate,
    TrainingRunRead,
)


def _runs(project_id: Ident) -> Collection[TrainingRunRead]:
    return Collection(f"/api/v1/projects/{segment(project_id)}/training-runs", TrainingRunRead)


class _Training:
    """The request shapes both resource groups below send."""

    @staticmethod
    def create(project_id: Ident, fields: dict[str, Any]) -> Call[TrainingRunRead]:
        """``POST /projects/{id}/training-runs``."""
        return _runs(project_id).create(
            body(TrainingRunCreate, **present(**fields)), TrainingRunRead
        )

    @staticmethod
    def predict(
        name: str, inputs: Sequence[str], version: str | None, alias: str | None
    ) -> Call[PredictResponse]:
        """``POST /models/{name}/predict``."""
        data = body(PredictRequest, **present(inputs=list(inputs), version=version, alias=alias))
        return Call(
            "POST",
            f"/api/v1/models/{segment(name)}/predict",
            PredictResponse.model_validate,
            json=data,
        )


class Training(SyncResource):
    """Training runs (Ray Train and Tune jobs) and predictions from served models."""

    def create(
        self,
        project_id: Ident,
        *,
        dataset_version_id: Ident,
        hyperparameters: dict[str, Any] | None = None,
        search: dict[str, Any] | None = None,
        num_workers: int | None = None,
        use_gpu: bool | None = None,
        max_attempts: int | None = None,
        max_failures: int | None = None,
    ) -> TrainingRunRead:
        """Queue a training run on a dataset version (``search`` makes it a Tune search).

        Raises:
            NotFound: the project or dataset version does not exist in the organization.
            ValidationError: a hyperparameter or the search space is out of bounds.
        """
        fields = {
            "dataset_version_id": str(dataset_version_id),
            "hyperparameters": hyperparameters,
            "search": search,
            "num_workers": num_workers,
            "use_gpu": use_gpu,
            "max_attempts": max_attempts,
            "max_failures": max_failures,
        }
        return self._run(_Training.create(project_id, fields))

    def list(
        self, project_id: Ident, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[TrainingRunRead]:
        """One page of the project's training runs, newest first."""
        return self._run(_runs(project_id).list(limit=limit, cursor=cursor))

    def iter(
        self, project_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[TrainingRunRead]:
        """Every training run of the project, newest first."""
        runs = _runs(project_id)
        return self._pages(lambda cursor: runs.list(limit=page_size, cursor=cursor))

    def get(self, project_id: Ident, run_id: Ident) -> TrainingRunRead:
        """One training run: ``progress`` holds epoch, steps and the metric history, and
        ``result`` the evaluation (accuracy, macro-F1, confusion matrix) once it succeeded.

        Raises:
            NotFound: it does not exist in the project or the organization.
        """
        return self._run(_runs(project_id).get(run_id))

    def predict(
        self,
        name: str,
        inputs: Sequence[str],
        *,
        version: str | None = None,
        alias: str | None = None,
    ) -> PredictResponse:
        """Labels and probabilities from a model version (latest unless one is named).

        Raises:
            NotFound: no such model, version or alias in the organization.
        """
        return self._run(_Training.predict(name, inputs, version, alias))


class AsyncTraining(AsyncResource, twin=Training):
    """Async form of :class:`Training`."""

    async def create(
        self,
        project_id: Ident,
        *,
        dataset_version_id: Ident,
        hyperparameters: dict[str, Any] | None = None,
        search: dict[str, Any] | None = None,
        num_workers: int | None = None,
        use_gpu: bool | None = None,
        max_attempts: int | None = None,
        max_failures: int | None = None,
    ) -> TrainingRunRead:
        fields = {
            "dataset_version_id": str(dataset_version_id),
            "hyperparameters": hyperparameters,
            "search": search,
            "num_workers": num_workers,
            "use_gpu": use_gpu,
            "max_attempts": max_attempts,
            "max_failures": max_failures,
        }
        return await self._run(_Training.create(project_id, fields))

    async def list(
        self, project_id: Ident, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[TrainingRunRead]:
        return await self._run(_runs(project_id).list(limit=limit, cursor=cursor))

    def iter(
        self, project_id: Ident, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[TrainingRunRead]:
        runs = _runs(project_id)
        return self._pages(lambda cursor: runs.list(limit=page_size, cursor=cursor))

    async def get(self, project_id: Ident, run_id: Ident) -> TrainingRunRead:
        return await self._run(_runs(project_id).get(run_id))

    async def predict(
        self,
        name: str,
        inputs: Sequence[str],
        *,
        version: str | None = None,
        alias: str | None = None,
    ) -> PredictResponse:
        return await self._run(_Training.predict(name, inputs, version, alias))
