"""All SQL for runs."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.db.paging import Page, keyset_page
from raylane.core.runs.models import Run


class RunRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, run_id: uuid.UUID) -> Run | None:
        return await self._session.get(Run, run_id)

    async def lock(self, run_id: uuid.UUID) -> Run | None:
        """The run, row-locked for this transaction; None if absent or locked by another worker."""
        stmt = select(Run).where(Run.id == run_id).with_for_update(skip_locked=True)
        return (await self._session.scalars(stmt)).first()

    async def page(
        self,
        *,
        limit: int,
        cursor: str | None,
        kind: str | None = None,
        status: str | None = None,
        project_id: uuid.UUID | None = None,
    ) -> Page[Run]:
        stmt = select(Run)
        if kind:
            stmt = stmt.where(Run.kind == kind)
        if status:
            stmt = stmt.where(Run.status == status)
        if project_id:
            stmt = stmt.where(Run.project_id == project_id)
        return await keyset_page(
            self._session, stmt, Run.id, limit=limit, cursor=cursor, descending=True
        )

    async def active_for_target(self, kind: str, target_id: uuid.UUID) -> Run | None:
        stmt = select(Run).where(
            Run.kind == kind,
            Run.target_id == target_id,
            Run.status.in_(["queued", "running", "cancelling"]),
        )
        return (await self._session.scalars(stmt)).first()

    async def tenant_of(self, run_id: uuid.UUID) -> uuid.UUID | None:
        """The run's organization, across tenants (SECURITY DEFINER): workers get only an id."""
        stmt = text("SELECT raylane_run_tenant(:id)")
        result: Any = (await self._session.execute(stmt, {"id": run_id})).scalar()
        return result

    async def needing_attention(self, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(run id, organization id) of runs to submit, poll or cancel, across tenants."""
        stmt = text("SELECT run_id, organization_id FROM raylane_runs_needing_attention(:n)")
        return [
            (r.run_id, r.organization_id) for r in await self._session.execute(stmt, {"n": limit})
        ]

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
