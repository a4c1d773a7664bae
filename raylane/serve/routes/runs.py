from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from raylane.core.rbac import Permission
from raylane.core.runs.service import run_service
from raylane.schemas.common import Page
from raylane.schemas.runs import RunLogs, RunRead
from raylane.serve.deps import ActorDep, PageDep, SessionDep, page_of, require
from raylane.serve.routing import Route

router = APIRouter(prefix="/api/v1/runs", tags=["runs"], route_class=Route)


@router.get("", dependencies=[require(Permission.RUN_READ)])
async def list_runs(
    session: SessionDep,
    page: PageDep,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    project_id: uuid.UUID | None = None,
) -> Page[RunRead]:
    """Newest first."""
    result = await run_service.page(
        session,
        limit=page.limit,
        cursor=page.cursor,
        kind=kind,
        status=status,
        project_id=project_id,
    )
    return page_of(result, RunRead)  # type: ignore[no-any-return]


@router.get("/{run_id}", dependencies=[require(Permission.RUN_READ)])
async def get_run(run_id: uuid.UUID, session: SessionDep) -> RunRead:
    """Status, attempts and progress of one run."""
    return RunRead.model_validate(await run_service.get(session, run_id=run_id))


@router.get("/{run_id}/logs", dependencies=[require(Permission.RUN_READ)])
async def get_run_logs(run_id: uuid.UUID, session: SessionDep) -> RunLogs:
    """The Ray job's logs for the run's latest attempt."""
    run = await run_service.get(session, run_id=run_id)
    logs = await run_service.logs(session, run_id=run_id)
    return RunLogs(run_id=run.id, ray_job_id=run.ray_job_id, logs=logs)


@router.post("/{run_id}/cancel", dependencies=[require(Permission.RUN_WRITE)])
async def cancel_run(run_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> RunRead:
    """Cancel: a queued run ends now, a running one once Ray has stopped its job."""
    return RunRead.model_validate(await run_service.cancel(session, actor=actor, run_id=run_id))
