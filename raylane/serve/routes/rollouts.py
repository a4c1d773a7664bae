"""Rollouts: start one on an endpoint, read them, pause, resume, promote now, abort."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from raylane.core.rbac import Permission
from raylane.core.rollouts.service import rollout_service
from raylane.schemas.rollouts import RolloutCreate, RolloutRead
from raylane.serve.deps import ActorDep, SessionDep, require
from raylane.serve.idempotency import IdempotencyDep
from raylane.serve.routing import Route

router = APIRouter(prefix="/api/v1", tags=["rollouts"], route_class=Route)
READ = [require(Permission.ENDPOINT_READ)]
WRITE = [require(Permission.ENDPOINT_WRITE)]


@router.post("/endpoints/{endpoint_id}/rollouts", status_code=202, dependencies=WRITE)
async def start_rollout(
    endpoint_id: uuid.UUID,
    data: RolloutCreate,
    session: SessionDep,
    actor: ActorDep,
    idem: IdempotencyDep,
) -> RolloutRead:
    """Start a canary rollout: the canary gets the first step's weight now; the orchestrator
    analyses each step and advances, promotes or rolls back. Poll GET /rollouts/{id}. 409 while
    another rollout is running or paused on the endpoint."""

    async def start() -> RolloutRead:
        rollout = await rollout_service.start(
            session, actor=actor, endpoint_id=endpoint_id, data=data
        )
        return RolloutRead.of(rollout)

    return await idem.once(session, actor, RolloutRead, start)


@router.get("/endpoints/{endpoint_id}/rollouts", dependencies=READ)
async def list_rollouts(endpoint_id: uuid.UUID, session: SessionDep) -> list[RolloutRead]:
    """The endpoint's rollouts (the latest 100), newest first."""
    rollouts = await rollout_service.for_endpoint(session, endpoint_id=endpoint_id)
    return [RolloutRead.of(r) for r in rollouts]


@router.get("/rollouts/{rollout_id}", dependencies=READ)
async def get_rollout(rollout_id: uuid.UUID, session: SessionDep) -> RolloutRead:
    """Status, step, weight, failed analyses and the history of every transition with its
    figures."""
    return RolloutRead.of(await rollout_service.get(session, rollout_id=rollout_id))


@router.post("/rollouts/{rollout_id}/pause", dependencies=WRITE)
async def pause_rollout(rollout_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> RolloutRead:
    """Hold the rollout at its step (the canary keeps its weight). 409 unless running."""
    return RolloutRead.of(await rollout_service.pause(session, actor=actor, rollout_id=rollout_id))


@router.post("/rollouts/{rollout_id}/resume", dependencies=WRITE)
async def resume_rollout(
    rollout_id: uuid.UUID, session: SessionDep, actor: ActorDep
) -> RolloutRead:
    """Go on from the held step; the next analysis covers a full interval from now. 409 unless
    paused."""
    return RolloutRead.of(await rollout_service.resume(session, actor=actor, rollout_id=rollout_id))


@router.post("/rollouts/{rollout_id}/promote", dependencies=WRITE)
async def promote_rollout(
    rollout_id: uuid.UUID, session: SessionDep, actor: ActorDep
) -> RolloutRead:
    """Make the canary stable now (model endpoints: the ``production`` alias moves to it). 409
    once the rollout has ended."""
    return RolloutRead.of(
        await rollout_service.promote(session, actor=actor, rollout_id=rollout_id)
    )


@router.post("/rollouts/{rollout_id}/abort", dependencies=WRITE)
async def abort_rollout(rollout_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> RolloutRead:
    """Stop the rollout: the canary's weight goes to 0; the stable version is untouched. 409
    once the rollout has ended."""
    return RolloutRead.of(await rollout_service.abort(session, actor=actor, rollout_id=rollout_id))
