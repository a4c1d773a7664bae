"""Run use cases: create (queued), attach (a job submitted by hand), read, list, cancel, replay
(a dead letter), logs.

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
        target_id: uuid.UUID | None,
        project_id: uuid.UUID | None,
        max_attempts: int,
        params: dict[str, Any] | None = None,
        replay_of: uuid.UUID | None = None,
        ray_job_id: str | None = None,
    ) -> Run:
        """Queue a run; one active run per (kind, target).

        Args:
            replay_of: The dead letter this run replays (see :meth:`replay`).
            ray_job_id: The Ray job already doing the first attempt (see :meth:`attach`):
                the run starts ``running`` with that job, and the reconciler follows it.

        Raises:
            Conflict: a run of this kind is already active for the target.
        """
        repo = RunRepository(session)
        if target_id is not None:
            active = await repo.active_for_target(kind, target_id)
            if active is not None:
                raise Conflict(f"{kind} run {active.id} is already {active.status} for {target_id}")
        attached = ray_job_id is not None
        run = Run(
            organization_id=actor.organization_id,
            project_id=project_id,
            kind=kind,
            target_id=target_id,
            status=RunStatus.RUNNING if attached else RunStatus.QUEUED,
            attempts=1 if attached else 0,
            max_attempts=max_attempts,
            ray_job_id=ray_job_id,
            started_at=datetime.now(UTC) if attached else None,
            params=params or {},
            progress={},
            result={},
            created_by=actor.user_id,
            replay_of=replay_of,
        )
        # Two concurrent requests both pass the check above; the partial unique index settles it.
        async with conflict_on_duplicate(session, f"an active {kind} run for {target_id}"):
            await repo.add(run)
        after = {"kind": kind, "target_id": None if target_id is None else str(target_id)}
        if replay_of is not None:
            after["replay_of"] = str(replay_of)
        if attached:
            after["ray_job_id"] = ray_job_id
        await audit_service.log(session, actor, f"run.{kind}.create", target=run, after=after)
        return run

    async def attach(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        kind: str,
        target_id: uuid.UUID | None,
        project_id: uuid.UUID | None,
        max_attempts: int,
        ray_job_id: str,
        params: dict[str, Any] | None = None,
    ) -> Run:
        """Record a run for a job an operator submitted by hand (``ray job submit``), as its
        first attempt: from then on it is followed, retried, dead-lettered and audited like
        a run created through the API.

        Raises:
            Conflict: a run of this kind is already active for the target.
        """
        return await self.create(
            session,
            actor=actor,
            kind=kind,
            target_id=target_id,
            project_id=project_id,
            max_attempts=max_attempts,
            params=params,
            ray_job_id=ray_job_id,
        )

    async def adopt(
        self, session: AsyncSession, *, actor: Actor, run_id: uuid.UUID, ray_job_id: str
    ) -> Run:
        """Make a hand-submitted Ray job the next attempt of a queued run (the reconciler
        then follows that job, and retries the run as usual if it fails).

        Raises:
            NotFound: no such run in the caller's organization.
            Conflict: the run is not queued, or the reconciler submitted it meanwhile.
        """
        run = await self.get(session, run_id=run_id)
        if run.status != RunStatus.QUEUED:
            raise Conflict(f"run {run_id} is {run.status}; only a queued run can be adopted")
        attempt = run.attempts + 1
        moved = await RunRepository(session).transition(
            run,
            to=RunStatus.RUNNING,
            attempts=attempt,
            ray_job_id=ray_job_id,
            started_at=run.started_at or datetime.now(UTC),
            next_attempt_at=None,
            error=None,
        )
        if not moved:
            raise Conflict(f"run {run_id} became {run.status} meanwhile; not adopted")
        await audit_service.log(
            session, actor, "run.adopt", target=run, after={"ray_job_id": ray_job_id}
        )
        return run

    async def replay(self, session: AsyncSession, *, actor: Actor, run_id: uuid.UUID) -> Run:
        """Replay a dead-lettered run: a new run with the same kind, target, params and
        ``max_attempts``, with fresh attempts, linked both ways (``replay_of``/``replayed_by``).

        Returns:
            The new run, ``queued``.

        Raises:
            NotFound: no such run in the caller's organization.
            Conflict: the run is not dead-lettered, was replayed already, or another run of
                its kind is active for its target.
        """
        repo = RunRepository(session)
        # Row-locked: a concurrent replay of the same run waits here, then sees ``replayed_by``
        # (and ``replay_of`` is unique besides, so two chains can never start).
        old = await repo.get_for_update(run_id)
        if old is None:
            raise NotFound("run", run_id)
        if old.status != RunStatus.DEAD_LETTERED:
            raise Conflict(f"run {run_id} is {old.status}; only a dead-lettered run is replayed")
        if old.replayed_by is not None:
            raise Conflict(f"run {run_id} was already replayed by run {old.replayed_by}")
        new = await self.create(
            session,
            actor=actor,
            kind=old.kind,
            target_id=old.target_id,
            project_id=old.project_id,
            max_attempts=old.max_attempts,
            params=dict(old.params),
            replay_of=old.id,
        )
        old.replayed_by = new.id
        await repo.flush()
        await audit_service.log(
            session, actor, "run.replay", target=old, after={"replayed_by": str(new.id)}
        )
        return new

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
        status: RunStatus | None = None,
        project_id: uuid.UUID | None = None,
    ) -> Page[Run]:
        """One page of runs, newest first, matching every filter given (``status`` is one
        exact status, e.g. ``dead_lettered`` for the dead letters)."""
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

    async def logs(
        self, session: AsyncSession, *, run_id: uuid.UUID, offset: int = 0
    ) -> tuple[Run, str, int]:
        """The logs of the run's latest attempt from character ``offset`` on.

        The run is read before the logs, so when it is already terminal the text is complete:
        a follower that sees a terminal status has every line.

        Returns:
            The run, the text from ``offset``, and the offset to ask for next (the length of
            the attempt's log so far).

        Raises:
            NotFound: no such run in the caller's organization.
        """
        run = await self.get(session, run_id=run_id)
        if run.ray_job_id is None:
            return run, "", 0
        text = await asyncio.to_thread(compute.job_logs, run.ray_job_id)
        return run, text[offset:], len(text)


run_service = RunService()
