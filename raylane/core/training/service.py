"""Training use cases: create a training run (a Run of kind ``train``), read and list them.

The request is validated here and stored as the run's params; the job re-reads them by run id,
so tenant input never reaches a job's command line.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.projects.service import project_service
from raylane.core.rbac import Actor
from raylane.core.runs.models import Run
from raylane.core.runs.service import run_service
from raylane.core.training import tracking
from raylane.errors import InvalidInput, NotFound
from raylane.infra.db.paging import Page
from raylane.infra.workloads import task_resources
from raylane.schemas.training import BatchPredictionCreate, TrainingRunCreate

KIND = "train"
PREDICT_KIND = "predict"


class TrainingService:
    async def create(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        project_id: uuid.UUID,
        data: TrainingRunCreate,
    ) -> Run:
        """Queue a training run on a dataset version of the caller's organization.

        Raises:
            NotFound: the project, the dataset version or the experiment does not exist in
                the organization (or the experiment is in another project).
            InvalidInput: a GPU was asked for and the training workload has no GPU group.
        """
        params = await self.prepare(session, actor=actor, project_id=project_id, data=data)
        # Each training run is its own target: several may train on one dataset at once.
        return await run_service.create(
            session,
            actor=actor,
            kind=KIND,
            target_id=uuid.uuid4(),
            project_id=project_id,
            max_attempts=data.max_attempts,
            params=params,
        )

    async def prepare(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        project_id: uuid.UUID,
        data: TrainingRunCreate,
    ) -> dict[str, Any]:
        """Check a training request against the caller's organization and return the run's
        params (the experiment filled in); shared by the API and the operator path
        (``ray job submit -- python -m raylane.jobs.train``).

        Raises:
            NotFound: the project, the dataset version or the experiment does not exist in
                the organization (or the experiment is in another project).
            InvalidInput: a GPU was asked for and the training workload has no GPU group.
        """
        await project_service.get(session, project_id=project_id)
        await tracking.check_dataset(session, dataset_version_id=data.dataset_version_id)
        experiment_id = await tracking.experiment_for(
            session, actor=actor, project_id=project_id, experiment_id=data.experiment_id
        )
        if data.use_gpu:
            try:
                task_resources("training", gpu=True)
            except ValueError as exc:
                raise InvalidInput(str(exc)) from exc
        return data.model_copy(update={"experiment_id": experiment_id}).model_dump(mode="json")

    async def get(self, session: AsyncSession, *, project_id: uuid.UUID, run_id: uuid.UUID) -> Run:
        """One training run of the project.

        Raises:
            NotFound: no such training run in the project (or the organization).
        """
        run = await run_service.get(session, run_id=run_id)
        if run.kind != KIND or run.project_id != project_id:
            raise NotFound("training run", run_id)
        return run

    async def page(
        self, session: AsyncSession, *, project_id: uuid.UUID, limit: int, cursor: str | None
    ) -> Page[Run]:
        """The project's training runs, newest first.

        Raises:
            NotFound: no such project in the organization.
        """
        await project_service.get(session, project_id=project_id)
        return await run_service.page(
            session, limit=limit, cursor=cursor, kind=KIND, project_id=project_id
        )

    async def batch_predict(
        self, session: AsyncSession, *, actor: Actor, name: str, data: BatchPredictionCreate
    ) -> Run:
        """Queue a batch prediction of a dataset version with a model version.

        Raises:
            NotFound: the model, version, alias or dataset version is not the caller's.
        """
        ref = await tracking.resolve_model(
            session, name=name, version=data.version, alias=data.alias
        )
        project_id = await tracking.dataset_project(
            session, dataset_version_id=data.dataset_version_id
        )
        return await run_service.create(
            session,
            actor=actor,
            kind=PREDICT_KIND,
            target_id=uuid.uuid4(),
            project_id=project_id,
            max_attempts=data.max_attempts,
            params={
                "model": name,
                "version": ref.version,
                "model_version_id": ref.version_id,
                "artifact_key": ref.artifact_key,
                "dataset_version_id": str(data.dataset_version_id),
            },
        )


training_service = TrainingService()
