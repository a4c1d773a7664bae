"""All SQL for audit events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import func, select, text

from raylane.core.audit.models import AuditEvent
from raylane.infra.db.paging import Page
from raylane.infra.db.repository import Repository


class AuditRepository(Repository[AuditEvent]):
    model = AuditEvent
    newest_first = True

    async def lock_chain(self, organization_id: uuid.UUID) -> None:
        """Serialise appends to one organization's chain until the transaction ends."""
        await self._session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:org, 71))"),
            {"org": str(organization_id)},
        )

    async def last(self, organization_id: uuid.UUID) -> AuditEvent | None:
        stmt = (
            select(AuditEvent)
            .where(AuditEvent.organization_id == organization_id)
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        )
        return (await self._session.scalars(stmt)).first()

    async def events(
        self,
        *,
        limit: int,
        cursor: str | None,
        action: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        actor_id: uuid.UUID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Page[AuditEvent]:
        """Newest first, filtered; ``action`` may end in ``*`` to match a prefix."""
        stmt = select(AuditEvent)
        if action:
            stmt = stmt.where(
                AuditEvent.action.startswith(action[:-1])
                if action.endswith("*")
                else AuditEvent.action == action
            )
        if target_type:
            stmt = stmt.where(AuditEvent.target_type == target_type)
        if target_id:
            stmt = stmt.where(AuditEvent.target_id == target_id)
        if actor_id:
            stmt = stmt.where(AuditEvent.actor_id == actor_id)
        if since:
            stmt = stmt.where(AuditEvent.created_at >= since)
        if until:
            stmt = stmt.where(AuditEvent.created_at < until)
        return await self.page(stmt, limit=limit, cursor=cursor)

    async def count(self) -> int:
        return int((await self._session.scalar(select(func.count(AuditEvent.id)))) or 0)

    async def chain(self, *, batch: int = 1000) -> AsyncIterator[AuditEvent]:
        """Every event of the current organization, in chain order."""
        last_seq = 0
        while True:
            stmt = (
                select(AuditEvent)
                .where(AuditEvent.seq > last_seq)
                .order_by(AuditEvent.seq)
                .limit(batch)
            )
            rows = list(await self._session.scalars(stmt))
            for row in rows:
                yield row
            if len(rows) < batch:
                return
            last_seq = rows[-1].seq
