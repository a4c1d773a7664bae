"""Experiments and tracking runs: create, log (metrics, params, tags in batches), end, search by
tag and metric, compare, metric histories, artifacts."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile

from raylane.core.experiments.models import ExperimentRunStatus, MetricPoint
from raylane.core.experiments.service import Metric, artifact_name, experiment_service
from raylane.core.rbac import Permission
from raylane.schemas.common import NUL_FREE, Page
from raylane.schemas.experiments import (
    ARTIFACT_PATH,
    FILTER_PATTERN,
    KEY_PATTERN,
    ArtifactRead,
    ArtifactUploaded,
    ExperimentCreate,
    ExperimentRead,
    ExperimentRunCreate,
    ExperimentRunRead,
    LogBatch,
    MetricHistory,
    MetricPointRead,
    RunCompare,
    RunComparison,
    RunEnd,
)
from raylane.serve.deps import ActorDep, PageDep, PlatformDep, SessionDep, page_of, require
from raylane.serve.routing import Route

router = APIRouter(prefix="/api/v1", tags=["experiments"], route_class=Route)
READ = [require(Permission.EXPERIMENT_READ)]
WRITE = [require(Permission.EXPERIMENT_WRITE)]


@router.post("/projects/{project_id}/experiments", status_code=201, dependencies=WRITE)
async def create_experiment(
    project_id: uuid.UUID, data: ExperimentCreate, session: SessionDep, actor: ActorDep
) -> ExperimentRead:
    experiment = await experiment_service.create(
        session,
        actor=actor,
        project_id=project_id,
        name=data.name,
        description=data.description,
        tags=data.tags,
    )
    return ExperimentRead.model_validate(experiment)


@router.get("/projects/{project_id}/experiments", dependencies=READ)
async def list_experiments(
    project_id: uuid.UUID,
    session: SessionDep,
    page: PageDep,
    name: Annotated[str | None, Query(max_length=200, pattern=NUL_FREE)] = None,
) -> Page[ExperimentRead]:
    """The project's experiments, oldest first; ``name`` finds one by its exact name."""
    result = await experiment_service.page(
        session, project_id=project_id, name=name, limit=page.limit, cursor=page.cursor
    )
    return page_of(result, ExperimentRead)  # type: ignore[no-any-return]


@router.get("/experiments/{experiment_id}", dependencies=READ)
async def get_experiment(experiment_id: uuid.UUID, session: SessionDep) -> ExperimentRead:
    found = await experiment_service.get(session, experiment_id=experiment_id)
    return ExperimentRead.model_validate(found)


@router.post("/experiments/{experiment_id}/runs", status_code=201, dependencies=WRITE)
async def start_experiment_run(
    experiment_id: uuid.UUID, data: ExperimentRunCreate, session: SessionDep, actor: ActorDep
) -> ExperimentRunRead:
    """Start a tracking run (status ``running``); log to it, then end it."""
    run = await experiment_service.start_run(
        session,
        actor=actor,
        experiment_id=experiment_id,
        name=data.name,
        params=data.params,
        tags=data.tags,
        run_id=data.run_id,
        dataset_version_id=data.dataset_version_id,
        parent_id=data.parent_id,
    )
    return ExperimentRunRead.model_validate(run)


@router.get("/experiments/{experiment_id}/runs", dependencies=READ)
async def list_experiment_runs(
    experiment_id: uuid.UUID,
    session: SessionDep,
    page: PageDep,
    filter: Annotated[
        str | None,
        Query(
            max_length=4000,
            # Stated for clients; the service applies it, with a message that quotes the filter.
            json_schema_extra={"pattern": FILTER_PATTERN},
            description="e.g. metric.accuracy > 0.8 and tag.team = 'nlp' and status = 'finished'",
        ),
    ] = None,
    parent_id: Annotated[uuid.UUID | None, Query(description="only this run's children")] = None,
) -> Page[ExperimentRunRead]:
    """The experiment's runs, newest first, matching ``filter``."""
    result = await experiment_service.search_runs(
        session,
        experiment_id=experiment_id,
        filter=filter,
        parent_id=parent_id,
        limit=page.limit,
        cursor=page.cursor,
    )
    return page_of(result, ExperimentRunRead)  # type: ignore[no-any-return]


@router.post("/experiment-comparisons", dependencies=READ)
async def compare_experiment_runs(data: RunCompare, session: SessionDep) -> RunComparison:
    """Runs side by side: the params that differ and every metric's history per run."""
    runs, diff, points = await experiment_service.compare(
        session, experiment_run_ids=data.experiment_run_ids
    )
    metrics: dict[str, dict[str, list[MetricPointRead]]] = defaultdict(dict)
    for point in points:
        series = metrics[point.key].setdefault(str(point.experiment_run_id), [])
        series.append(MetricPointRead.model_validate(point))
    return RunComparison(
        runs=[ExperimentRunRead.model_validate(r) for r in runs],
        params_diff=diff,
        metrics=dict(metrics),
    )


@router.get("/experiment-runs/{experiment_run_id}", dependencies=READ)
async def get_experiment_run(
    experiment_run_id: uuid.UUID, session: SessionDep
) -> ExperimentRunRead:
    found = await experiment_service.get_run(session, experiment_run_id=experiment_run_id)
    return ExperimentRunRead.model_validate(found)


@router.post("/experiment-runs/{experiment_run_id}/log", dependencies=WRITE)
async def log_experiment_run(
    experiment_run_id: uuid.UUID, data: LogBatch, session: SessionDep, actor: ActorDep
) -> ExperimentRunRead:
    """Log metric points, params and tags in one batch (all or nothing)."""
    run = await experiment_service.log_batch(
        session,
        actor=actor,
        experiment_run_id=experiment_run_id,
        metrics=[Metric(m.key, m.value, m.step, m.timestamp) for m in data.metrics],
        params=data.params,
        tags=data.tags,
    )
    return ExperimentRunRead.model_validate(run)


@router.post("/experiment-runs/{experiment_run_id}/end", dependencies=WRITE)
async def end_experiment_run(
    experiment_run_id: uuid.UUID, data: RunEnd, session: SessionDep, actor: ActorDep
) -> ExperimentRunRead:
    """End the run as finished, failed or killed."""
    run = await experiment_service.end_run(
        session,
        actor=actor,
        experiment_run_id=experiment_run_id,
        status=ExperimentRunStatus(data.status),
    )
    return ExperimentRunRead.model_validate(run)


def _histories(experiment_run_id: uuid.UUID, points: list[MetricPoint]) -> list[MetricHistory]:
    grouped: dict[str, list[MetricPointRead]] = defaultdict(list)
    for point in points:
        grouped[point.key].append(MetricPointRead.model_validate(point))
    return [
        MetricHistory(experiment_run_id=experiment_run_id, key=key, points=series)
        for key, series in grouped.items()
    ]


@router.get("/experiment-runs/{experiment_run_id}/metric-history", dependencies=READ)
async def get_metric_history(
    experiment_run_id: uuid.UUID,
    session: SessionDep,
    key: Annotated[
        str | None,
        Query(min_length=1, max_length=250, pattern=KEY_PATTERN, description="default: every"),
    ] = None,
) -> list[MetricHistory]:
    """Each metric's points (or one metric's), by step then time."""
    points = await experiment_service.metric_history(
        session, experiment_run_id=experiment_run_id, key=key
    )
    found = _histories(experiment_run_id, points)
    if key is not None and not found:
        return [MetricHistory(experiment_run_id=experiment_run_id, key=key, points=[])]
    return found


@router.post("/experiment-runs/{experiment_run_id}/artifacts", status_code=201, dependencies=WRITE)
async def upload_artifact(
    experiment_run_id: uuid.UUID,
    session: SessionDep,
    actor: ActorDep,
    platform: PlatformDep,
    file: Annotated[UploadFile, File(description="the artifact's content")],
    path: Annotated[
        str | None,
        Form(
            max_length=500,
            pattern=ARTIFACT_PATH,
            description="where in the run, e.g. model/head.pt (default: the file's name)",
        ),
    ] = None,
) -> ArtifactUploaded:
    """Store a file as an artifact of the run; the same content at the same path is a no-op."""
    where = path or artifact_name(file.filename)
    artifact, created = await experiment_service.log_artifact(
        session,
        actor=actor,
        experiment_run_id=experiment_run_id,
        path=where,
        data=await file.read(),
        store=platform.store,
        content_type=file.content_type,
        max_bytes=platform.settings.documents.max_upload_bytes,
    )
    return ArtifactUploaded(artifact=ArtifactRead.model_validate(artifact), created=created)


@router.get("/experiment-runs/{experiment_run_id}/artifacts", dependencies=READ)
async def list_artifacts(
    experiment_run_id: uuid.UUID, session: SessionDep, page: PageDep
) -> Page[ArtifactRead]:
    result = await experiment_service.artifacts(
        session, experiment_run_id=experiment_run_id, limit=page.limit, cursor=page.cursor
    )
    return page_of(result, ArtifactRead)  # type: ignore[no-any-return]


@router.get(
    "/experiment-runs/{experiment_run_id}/artifacts/{artifact_id}/content",
    dependencies=READ,
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string"}}}}},
)
async def download_artifact(
    experiment_run_id: uuid.UUID, artifact_id: uuid.UUID, session: SessionDep, platform: PlatformDep
) -> Response:
    """The artifact's bytes."""
    artifact = await experiment_service.artifact(
        session, experiment_run_id=experiment_run_id, artifact_id=artifact_id
    )
    data = await experiment_service.read_artifact(artifact, store=platform.store)
    return Response(content=data, media_type="application/octet-stream")
