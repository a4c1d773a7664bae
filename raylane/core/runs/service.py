"""Run use cases: create (queued), read, list, cancel, logs, progress.

Creating a run never calls Ray: the row is committed as ``queued`` and the RunReconciler
submits it, so an acknowledged run survives an API crash and Ray outages only delay it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.audit import audit_service
from raylane.core.rbac import Actor
from raylane.core.runs.models import CANCEL_TO, TERMINAL, Run, RunStatus
from raylane.core.runs.repository import RunRepository
from raylane.errors import Conflict, NotFound
from raylane.infra import compute
from raylane.infra.db.paging import Page
from raylane.infra.db.session import conflict_on_duplicate

# Each lost transition means another writer moved the run on (submitted, finished, requeued):
# a handful of moves in a row only happens under a pathological race.
_CANCEL_TRIES = 5


class RunService:
    async def create(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        kind: str,
        target_id: uuid.UUID,
        project_id: uuid.UUID | None,
        max_attempts: int,
        params: dict[str, Any] | None = None,
    ) -> Run:
        """Queue a run; one active run per (kind, target).

        Raises:
            Conflict: a run of this kind is already active for the target.
        """
        repo = RunRepository(session)
        active = await repo.active_for_target(kind, target_id)
        if active is not None:
            raise Conflict(f"{kind} run {active.id} is already {active.status} for {target_id}")
        run = Run(
            organization_id=actor.organization_id,
            project_id=project_id,
            kind=kind,
            target_id=target_id,
            status=RunStatus.QUEUED,
            max_attempts=max_attempts,
            params=params or {},
            progress={},
            result={},
            created_by=actor.user_id,
        )
        # Two concurrent requests both pass the check above; the partial unique index settles it.
        async with conflict_on_duplicate(session, f"an active {kind} run for {target_id}"):
            await repo.add(run)
        await audit_service.log(
            session,
            actor,
            f"run.{kind}.create",
            target=run,
            after={"kind": kind, "target_id": str(target_id)},
        )
        return run

    async def get(self, session: AsyncSession, *, run_id: uuid.UUID) -> Run:
        run = await RunRepository(session).get(run_id)
        if run is None:
            raise NotFound("run", run_id)
        return run

    async def page(
        self,
        session: AsyncSession,
        *,
        limit: int,
        cursor: str | None,
        kind: str | None = None,
        status: str | None = None,
        project_id: uuid.UUID | None = None,
    ) -> Page[Run]:
        # An empty filter is no filter, as a missing one.
        filters = {"kind": kind or None, "status": status or None, "project_id": project_id}
        return await RunRepository(session).page(filters, limit=limit, cursor=cursor)

    async def cancel(self, session: AsyncSession, *, actor: Actor, run_id: uuid.UUID) -> Run:
        """Ask for cancellation: a queued run ends at once, a running one when Ray stops it.

        A conditional transition from the status just read: if the reconciler submits the run
        or the job finishes meanwhile, the cancel re-reads and asks again from the new status,
        so it never overwrites a ``running`` whose Ray job would then never be stopped.

        Raises:
            NotFound: no such run in the caller's organization.
            Conflict: the run kept changing status under the cancel.
        """
        repo = RunRepository(session)
        run = await self.get(session, run_id=run_id)
        for _ in range(_CANCEL_TRIES):
            target = CANCEL_TO.get(RunStatus(run.status))
            if target is None:  # terminal, or a cancel is already under way
                return run
            finished = {"finished_at": datetime.now(UTC)} if target in TERMINAL else {}
            if await repo.transition(run, to=target, **finished):
                await audit_service.log(session, actor, "run.cancel", target=run)
                return run
        raise Conflict(f"run {run_id} kept changing status; try the cancel again")

    async def logs(self, session: AsyncSession, *, run_id: uuid.UUID) -> str:
        run = await self.get(session, run_id=run_id)
        if run.ray_job_id is None:
            return ""
        return await asyncio.to_thread(compute.job_logs, run.ray_job_id)


run_service = RunService()
