"""All SQL for runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.runs.models import ACTIVE, EDGES, HOLDING_A_JOB, IdempotencyKey, Run, RunStatus
from raylane.infra.db.repository import Repository
from raylane.infra.ids import uuid7


class RunRepository(Repository[Run]):
    model = Run
    newest_first = True

    async def get(self, run_id: uuid.UUID, *, fresh: bool = False) -> Run | None:
        """The run; ``fresh`` re-reads the row even if this session already holds the object
        (after a transition lost to another writer, the cached status is the stale one)."""
        if not fresh:
            return await self._session.get(Run, run_id)
        stmt = select(Run).where(Run.id == run_id).execution_options(populate_existing=True)
        return (await self._session.scalars(stmt)).first()

    async def lock(self, run_id: uuid.UUID) -> Run | None:
        """The run, row-locked for this transaction; None if absent or locked by another worker."""
        stmt = (
            select(Run)
            .where(Run.id == run_id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        return (await self._session.scalars(stmt)).first()

    async def get_for_update(self, run_id: uuid.UUID) -> Run | None:
        """The run, row-locked for this transaction (waiting for another holder to finish)."""
        stmt = (
            select(Run)
            .where(Run.id == run_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self._session.scalars(stmt)).first()

    async def transition(self, run: Run, *, to: RunStatus, **values: Any) -> bool:
        """Move ``run`` from the status it was read with to ``to``, setting ``values`` too.

        The one writer of ``status``: an edge outside ``EDGES`` is a bug (ValueError), and the
        UPDATE only matches while the row still has the status the caller saw. When another
        writer moved the run first, nothing is written, ``run`` is re-read and False returned.
        """
        source = RunStatus(run.status)
        if to not in EDGES[source]:
            raise ValueError(f"run {run.id}: {source} -> {to} is not a run transition")
        if self._session.is_modified(run):
            # A pending change would be flushed ahead of the UPDATE, unconditionally.
            raise ValueError(f"run {run.id}: unflushed changes; pass them as values")
        stmt = (
            update(Run)
            .where(Run.id == run.id, Run.status == source)
            .values(status=to, **values)
            .returning(Run)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        if (await self._session.scalars(stmt)).first() is not None:
            return True
        await self.get(run.id, fresh=True)
        return False

    async def hold_submission_slot(self, organization_id: uuid.UUID, max_running: int) -> bool:
        """Whether the organization may start one more job, serialised per organization.

        Two reconcilers submitting for the same organization take turns on a transaction-scoped
        advisory lock, so each counts the other's committed submission: the limit holds under
        concurrency, not only in the attention query's snapshot.
        """
        await self._session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:org, 72))"),
            {"org": str(organization_id)},
        )
        stmt = select(func.count(Run.id)).where(
            Run.organization_id == organization_id, Run.status.in_(HOLDING_A_JOB)
        )
        return int((await self._session.execute(stmt)).scalar_one()) < max_running

    async def active_for_target(self, kind: str, target_id: uuid.UUID) -> Run | None:
        stmt = select(Run).where(
            Run.kind == kind, Run.target_id == target_id, Run.status.in_(ACTIVE)
        )
        return (await self._session.scalars(stmt)).first()

    async def tenant_of(self, run_id: uuid.UUID) -> uuid.UUID | None:
        """The run's organization, across tenants (SECURITY DEFINER): workers get only an id."""
        stmt = text("SELECT raylane_run_tenant(:id)")
        result = (await self._session.execute(stmt, {"id": run_id})).scalar()
        return None if result is None else uuid.UUID(str(result))

    async def to_submit(self, *, limit: int, max_running: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(run id, organization id) of due queued runs, across tenants, taking organizations in
        turn (each one's oldest first), none beyond its free running slots."""
        stmt = text("SELECT run_id, organization_id FROM raylane_runs_to_submit(:n, :max_running)")
        rows = await self._session.execute(stmt, {"n": limit, "max_running": max_running})
        return [(r.run_id, r.organization_id) for r in rows]

    async def to_follow(
        self, *, after: uuid.UUID | None, limit: int
    ) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(run id, organization id) of running and cancelling runs with ids after ``after``,
        across tenants: the reconciler walks them in pages, so each is polled in turn."""
        stmt = text("SELECT run_id, organization_id FROM raylane_runs_to_follow(:after, :n)")
        rows = await self._session.execute(stmt, {"after": after, "n": limit})
        return [(r.run_id, r.organization_id) for r in rows]

    async def counts(self) -> list[tuple[str, str, int]]:
        """(kind, status, runs) over every organization (SECURITY DEFINER; numbers only)."""
        rows = await self._session.execute(
            text("SELECT kind, status, runs FROM raylane_run_counts()")
        )
        return [(r.kind, r.status, int(r.runs)) for r in rows]

    async def recent(self, *, limit: int) -> list[Run]:
        stmt = select(Run).order_by(Run.id.desc()).limit(limit)
        return list(await self._session.scalars(stmt))

    async def by_status(self) -> list[tuple[str, str, int]]:
        """(kind, status, runs) of the current organization."""
        stmt = select(Run.kind, Run.status, func.count(Run.id)).group_by(Run.kind, Run.status)
        return [(k, s, int(n)) for k, s, n in (await self._session.execute(stmt)).all()]

    async def purge_idempotency_keys(self, *, limit: int) -> int:
        """Delete up to ``limit`` expired idempotency keys of every organization (SECURITY
        DEFINER); returns how many went."""
        stmt = text("SELECT raylane_purge_idempotency_keys(:n)")
        return int((await self._session.execute(stmt, {"n": limit})).scalar_one())


class IdempotencyRepository:
    """All SQL for idempotency keys (the current organization's, under row-level security)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(
        self,
        *,
        organization_id: uuid.UUID,
        scope: str,
        key: str,
        fingerprint: str,
        expires_at: datetime,
    ) -> bool:
        """Insert the key; False when it exists already.

        A concurrent transaction that inserted the same key first makes this one wait on the
        unique index until it commits (then False) or rolls back (then this one has it).
        """
        stmt = (
            insert(IdempotencyKey)
            .values(
                id=uuid7(),
                organization_id=organization_id,
                scope=scope,
                key=key,
                fingerprint=fingerprint,
                expires_at=expires_at,
            )
            .on_conflict_do_nothing(index_elements=["organization_id", "scope", "key"])
            .returning(IdempotencyKey.id)
        )
        return (await self._session.execute(stmt)).first() is not None

    async def reclaim_expired(
        self, *, scope: str, key: str, fingerprint: str, expires_at: datetime
    ) -> bool:
        """Take over an expired key as if it were new; False if it has not expired."""
        stmt = (
            update(IdempotencyKey)
            .where(
                IdempotencyKey.scope == scope,
                IdempotencyKey.key == key,
                IdempotencyKey.expires_at <= func.now(),
            )
            .values(
                fingerprint=fingerprint,
                status_code=None,
                response=None,
                expires_at=expires_at,
                created_at=func.now(),
            )
            .returning(IdempotencyKey.id)
            .execution_options(synchronize_session=False)
        )
        return (await self._session.execute(stmt)).first() is not None

    async def find(self, *, scope: str, key: str) -> IdempotencyKey | None:
        stmt = (
            select(IdempotencyKey)
            .where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
            .execution_options(populate_existing=True)
        )
        return (await self._session.scalars(stmt)).first()

    async def record(
        self, *, scope: str, key: str, status_code: int, response: dict[str, Any]
    ) -> None:
        stmt = (
            update(IdempotencyKey)
            .where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
            .values(status_code=status_code, response=response)
            .execution_options(synchronize_session=False)
        )
        await self._session.execute(stmt)
