from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from raylane.core.rbac import Permission
from raylane.core.runs.models import RunStatus
from raylane.core.runs.service import run_service
from raylane.schemas.common import Page
from raylane.schemas.runs import RunLogs, RunRead, RunStatusName
from raylane.serve.deps import ActorDep, PageDep, SessionDep, page_of, require
from raylane.serve.idempotency import IdempotencyDep
from raylane.serve.routing import Route

router = APIRouter(prefix="/api/v1/runs", tags=["runs"], route_class=Route)


@router.get("", dependencies=[require(Permission.RUN_READ)])
async def list_runs(
    session: SessionDep,
    page: PageDep,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[
        RunStatusName | None,
        Query(description="One exact status; `dead_lettered` lists the dead letters."),
    ] = None,
    project_id: uuid.UUID | None = None,
) -> Page[RunRead]:
    """Newest first, matching every filter given."""
    result = await run_service.page(
        session,
        limit=page.limit,
        cursor=page.cursor,
        kind=kind,
        status=None if status is None else RunStatus(status),
        project_id=project_id,
    )
    return page_of(result, RunRead)  # type: ignore[no-any-return]


@router.get("/{run_id}", dependencies=[require(Permission.RUN_READ)])
async def get_run(run_id: uuid.UUID, session: SessionDep) -> RunRead:
    """Status, attempts and progress of one run."""
    return RunRead.model_validate(await run_service.get(session, run_id=run_id))


@router.get("/{run_id}/logs", dependencies=[require(Permission.RUN_READ)])
async def get_run_logs(
    run_id: uuid.UUID,
    session: SessionDep,
    offset: Annotated[
        int,
        Query(
            ge=0,
            description="Characters of the attempt's log already read: pass the previous "
            "answer's `next_offset` to get only new lines (start again from 0 when "
            "`ray_job_id` changes: a new attempt).",
        ),
    ] = 0,
) -> RunLogs:
    """The Ray job's logs for the run's latest attempt, from ``offset`` on, with the run's
    status read first (a terminal status means the text is complete)."""
    run, text, next_offset = await run_service.logs(session, run_id=run_id, offset=offset)
    return RunLogs(
        run_id=run.id,
        ray_job_id=run.ray_job_id,
        logs=text,
        status=run.status,
        offset=min(offset, next_offset),
        next_offset=next_offset,
    )


@router.post("/{run_id}/cancel", dependencies=[require(Permission.RUN_WRITE)])
async def cancel_run(run_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> RunRead:
    """Cancel: a queued run ends now, a running one once Ray has stopped its job."""
    return RunRead.model_validate(await run_service.cancel(session, actor=actor, run_id=run_id))


@router.post("/{run_id}/replay", status_code=202, dependencies=[require(Permission.RUN_WRITE)])
async def replay_run(
    run_id: uuid.UUID, session: SessionDep, actor: ActorDep, idem: IdempotencyDep
) -> RunRead:
    """Replay a dead-lettered run: a new run (fresh attempts, same kind, target and params)
    with ``replay_of`` set, and ``replayed_by`` on the old one. 409 unless the run is
    ``dead_lettered`` and not replayed yet."""

    async def replay() -> RunRead:
        return RunRead.model_validate(await run_service.replay(session, actor=actor, run_id=run_id))

    return await idem.once(session, actor, RunRead, replay)
