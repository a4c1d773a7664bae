"""Training's one seam to datasets, experiments and the model registry.

Everything training needs from those services goes through the functions here: the dataset
version's rows, the tracking run (params, metric series, trials as child runs, the model
artifact) and, for serving, the model version a name and an alias or number mean.
Jobs call these with no actor: the services record that work as the organization's system work.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.config import get_settings
from raylane.core.datasets.service import dataset_service
from raylane.core.experiments.models import ExperimentRunStatus
from raylane.core.experiments.service import Metric, experiment_service
from raylane.core.rbac import Actor
from raylane.core.registry.service import registry_service
from raylane.errors import Conflict
from raylane.infra.db.session import session_scope
from raylane.infra.storage import store_from_settings

DEFAULT_EXPERIMENT = "training"  # where training runs log when the request names none
ARTIFACT_PATH = "model/model.safetensors"


async def check_dataset(session: AsyncSession, *, dataset_version_id: uuid.UUID) -> None:
    """Raise NotFound unless the version exists in the caller's organization."""
    await dataset_service.version_by_id(session, dataset_version_id=dataset_version_id)


async def dataset_project(session: AsyncSession, *, dataset_version_id: uuid.UUID) -> uuid.UUID:
    """The project a dataset version belongs to.

    Raises:
        NotFound: the version is not the caller's.
    """
    version = await dataset_service.version_by_id(session, dataset_version_id=dataset_version_id)
    dataset = await dataset_service.get(session, dataset_id=version.dataset_id)
    return dataset.project_id


async def experiment_for(
    session: AsyncSession, *, actor: Actor, project_id: uuid.UUID, experiment_id: uuid.UUID | None
) -> uuid.UUID:
    """The experiment a training run logs to: the one named, else the project's ``training``
    experiment (created on first use).

    Raises:
        NotFound: the named experiment is not the caller's, or is in another project.
    """
    if experiment_id is not None:
        experiment = await experiment_service.get(session, experiment_id=experiment_id)
        if experiment.project_id != project_id:
            from raylane.errors import NotFound

            raise NotFound("experiment", experiment_id)
        return experiment.id
    for _ in range(2):  # a concurrent first use may create it between the look and the add
        page = await experiment_service.page(
            session, project_id=project_id, name=DEFAULT_EXPERIMENT, limit=1, cursor=None
        )
        if page.items:
            return page.items[0].id
        try:
            created = await experiment_service.create(
                session, actor=actor, project_id=project_id, name=DEFAULT_EXPERIMENT
            )
        except Conflict:
            continue
        return created.id
    raise Conflict("the training experiment kept changing; try again")


async def read_dataset(*, organization_id: uuid.UUID, dataset_version_id: uuid.UUID) -> bytes:
    """The version's rows as normalised JSON Lines (``text``, ``label``, optional ``split``).

    Raises:
        NotFound: no such version in the organization.
    """
    async with session_scope(organization_id=organization_id) as session:
        version = await dataset_service.version_by_id(
            session, dataset_version_id=dataset_version_id
        )
        return await dataset_service.read_rows(version, store=store_from_settings(get_settings()))


async def start_run(
    *,
    organization_id: uuid.UUID,
    experiment_id: uuid.UUID,
    run_id: uuid.UUID,
    name: str,
    params: Mapping[str, Any],
    dataset_version_id: uuid.UUID | None,
    parent_id: uuid.UUID | None = None,
    tags: Mapping[str, str] | None = None,
) -> uuid.UUID:
    """Start a tracking run for the platform run ``run_id``; returns its id."""
    async with session_scope(organization_id=organization_id) as session:
        tracked = await experiment_service.start_run(
            session,
            actor=None,
            experiment_id=experiment_id,
            name=name,
            params={k: _param(v) for k, v in params.items()},
            tags=tags,
            run_id=run_id,
            dataset_version_id=dataset_version_id,
            parent_id=parent_id,
        )
        return tracked.id


def _param(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


async def log_metrics(
    *,
    organization_id: uuid.UUID,
    experiment_run_id: uuid.UUID,
    metrics: Sequence[tuple[str, float, int]],
    tags: Mapping[str, str] | None = None,
) -> None:
    """Append ``(name, value, step)`` points (and set tags) on a tracking run."""
    async with session_scope(organization_id=organization_id) as session:
        await experiment_service.log_batch(
            session,
            actor=None,
            experiment_run_id=experiment_run_id,
            metrics=[Metric(key=k, value=float(v), step=int(s)) for k, v, s in metrics],
            tags=tags,
        )


async def end_run(
    *, organization_id: uuid.UUID, experiment_run_id: uuid.UUID, failed: bool = False
) -> None:
    status = ExperimentRunStatus.FAILED if failed else ExperimentRunStatus.FINISHED
    async with session_scope(organization_id=organization_id) as session:
        await experiment_service.end_run(
            session, actor=None, experiment_run_id=experiment_run_id, status=status
        )


async def save_artifact(
    *, organization_id: uuid.UUID, experiment_run_id: uuid.UUID, data: bytes
) -> str:
    """Store the model as the tracking run's artifact; returns its object key."""
    async with session_scope(organization_id=organization_id) as session:
        artifact, _ = await experiment_service.log_artifact(
            session,
            actor=None,
            experiment_run_id=experiment_run_id,
            path=ARTIFACT_PATH,
            data=data,
            store=store_from_settings(get_settings()),
            content_type="application/octet-stream",
        )
        key: str = artifact.object_key
        return key


@dataclass(frozen=True)
class ModelRef:
    """A servable model version: its id (what replicas are routed by) and its artifact."""

    version_id: str
    artifact_key: str
    name: str
    version: str


async def resolve_model(
    session: AsyncSession, *, name: str, version: str | None, alias: str | None
) -> ModelRef:
    """The version of model ``name`` a caller means (a number, an alias, else ``latest``).

    Raises:
        NotFound: no such model, version or alias in the caller's organization.
    """
    found = await registry_service.resolve(session, name, version or alias or "latest")
    return ModelRef(
        version_id=str(found.id),
        artifact_key=found.artifact_key,
        name=name,
        version=str(found.version),
    )


async def read_artifact(key: str) -> bytes:
    import asyncio

    return await asyncio.to_thread(store_from_settings(get_settings()).get, key)
