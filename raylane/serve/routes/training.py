"""Training runs: create (a queued Run of kind ``train``), list and read."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from raylane.core.rbac import Permission
from raylane.core.training.service import training_service
from raylane.schemas.common import Page
from raylane.schemas.training import TrainingRunCreate, TrainingRunRead
from raylane.serve.deps import ActorDep, PageDep, SessionDep, page_of, require
from raylane.serve.idempotency import IdempotencyDep
from raylane.serve.routing import Route

router = APIRouter(prefix="/api/v1/projects", tags=["training"], route_class=Route)


@router.post(
    "/{project_id}/training-runs",
    status_code=202,
    dependencies=[require(Permission.RUN_WRITE)],
)
async def create_training_run(
    project_id: uuid.UUID,
    data: TrainingRunCreate,
    session: SessionDep,
    actor: ActorDep,
    idem: IdempotencyDep,
) -> TrainingRunRead:
    """Queue a training run on a dataset version; poll it here or at GET /runs/{id}."""

    async def start() -> TrainingRunRead:
        run = await training_service.create(session, actor=actor, project_id=project_id, data=data)
        return TrainingRunRead.model_validate(run)

    return await idem.once(session, actor, TrainingRunRead, start)


@router.get("/{project_id}/training-runs", dependencies=[require(Permission.RUN_READ)])
async def list_training_runs(
    project_id: uuid.UUID, session: SessionDep, page: PageDep
) -> Page[TrainingRunRead]:
    """The project's training runs, newest first."""
    result = await training_service.page(
        session, project_id=project_id, limit=page.limit, cursor=page.cursor
    )
    return page_of(result, TrainingRunRead)  # type: ignore[no-any-return]


@router.get(
    "/{project_id}/training-runs/{training_run_id}", dependencies=[require(Permission.RUN_READ)]
)
async def get_training_run(
    project_id: uuid.UUID, training_run_id: uuid.UUID, session: SessionDep
) -> TrainingRunRead:
    """Status, progress (epoch, steps, metric history) and, when done, the evaluation."""
    return TrainingRunRead.model_validate(
        await training_service.get(session, project_id=project_id, run_id=training_run_id)
    )
