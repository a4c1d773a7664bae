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
from raylane.client.resources.runs import asend_creation, idempotent, send_creation
from raylane.schemas.common import Page
from raylane.schemas.training import (
    BatchPredictionCreate,
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
    def create(project_id: Ident, fields: dict[str, Any], key: str | None) -> Call[TrainingRunRead]:
        """``POST /projects/{id}/training-runs`` with an ``Idempotency-Key``."""
        call = _runs(project_id).create(
            body(TrainingRunCreate, **present(**fields)), TrainingRunRead
        )
        return idempotent(call, key)

    @staticmethod
    def batch_predict(name: str, fields: dict[str, Any], key: str | None) -> Call[TrainingRunRead]:
        """``POST /models/{name}/batch-predictions`` with an ``Idempotency-Key``."""
        data = body(BatchPredictionCreate, **present(**fields))
        call = Call(
            "POST",
            f"/api/v1/models/{segment(name)}/batch-predictions",
            TrainingRunRead.model_validate,
            json=data,
        )
        return idempotent(call, key)

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
        base: str | None = None,
        hyperparameters: dict[str, Any] | None = None,
        search: dict[str, Any] | None = None,
        num_workers: int | None = None,
        use_gpu: bool | None = None,
        max_attempts: int | None = None,
        max_failures: int | None = None,
        idempotency_key: str | None = None,
    ) -> TrainingRunRead:
        """Queue a training run on a dataset version (``search`` makes it a Tune search).

        ``base`` is ``"minilm-frozen"`` (the default: the bundled MiniLM frozen, a head trained)
        or ``"minilm-finetuned"`` (the encoder trained with the head; ``hyperparameters`` may
        add ``encoder_learning_rate`` and ``max_length``; no search).

        The request carries ``idempotency_key`` (a random one when not given) and is retried
        with it on a transient failure, so one call makes one run.

        Raises:
            IdempotencyKeyReused: the key was first used with another request.
            NotFound: the project or dataset version does not exist in the organization.
            ValidationError: a hyperparameter or the search space is out of bounds.
        """
        fields = {
            "dataset_version_id": str(dataset_version_id),
            "base": base,
            "hyperparameters": hyperparameters,
            "search": search,
            "num_workers": num_workers,
            "use_gpu": use_gpu,
            "max_attempts": max_attempts,
            "max_failures": max_failures,
        }
        return send_creation(self._run, _Training.create(project_id, fields, idempotency_key))

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

    def batch_predict(
        self,
        name: str,
        *,
        dataset_version_id: Ident,
        version: str | None = None,
        alias: str | None = None,
        max_attempts: int | None = None,
        idempotency_key: str | None = None,
    ) -> TrainingRunRead:
        """Queue a batch prediction of a model version over a dataset version (a Ray Data
        run; follow it with ``client.runs.wait``). Sent with an ``Idempotency-Key`` and
        retried with it on a transient failure, like :meth:`create`.

        Raises:
            NotFound: no such model, version, alias or dataset version in the organization.
            IdempotencyKeyReused: the key was first used with another request.
        """
        fields = {
            "dataset_version_id": str(dataset_version_id),
            "version": version,
            "alias": alias,
            "max_attempts": max_attempts,
        }
        return send_creation(self._run, _Training.batch_predict(name, fields, idempotency_key))


class AsyncTraining(AsyncResource, twin=Training):
    """Async form of :class:`Training`."""

    async def create(
        self,
        project_id: Ident,
        *,
        dataset_version_id: Ident,
        base: str | None = None,
        hyperparameters: dict[str, Any] | None = None,
        search: dict[str, Any] | None = None,
        num_workers: int | None = None,
        use_gpu: bool | None = None,
        max_attempts: int | None = None,
        max_failures: int | None = None,
        idempotency_key: str | None = None,
    ) -> TrainingRunRead:
        fields = {
            "dataset_version_id": str(dataset_version_id),
            "base": base,
            "hyperparameters": hyperparameters,
            "search": search,
            "num_workers": num_workers,
            "use_gpu": use_gpu,
            "max_attempts": max_attempts,
            "max_failures": max_failures,
        }
        call = _Training.create(project_id, fields, idempotency_key)
        return await asend_creation(self._run, call)

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

    async def batch_predict(
        self,
        name: str,
        *,
        dataset_version_id: Ident,
        version: str | None = None,
        alias: str | None = None,
        max_attempts: int | None = None,
        idempotency_key: str | None = None,
    ) -> TrainingRunRead:
        fields = {
            "dataset_version_id": str(dataset_version_id),
            "version": version,
            "alias": alias,
            "max_attempts": max_attempts,
        }
        call = _Training.batch_predict(name, fields, idempotency_key)
        return await asend_creation(self._run, call)
