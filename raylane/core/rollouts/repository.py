"""Every query on rollouts."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.endpoints.models import Endpoint
from raylane.core.rollouts.models import ACTIVE, Rollout


class RolloutRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, rollout: Rollout) -> Rollout:
        self._session.add(rollout)
        await self._session.flush()
        return rollout

    async def get(self, rollout_id: uuid.UUID) -> Rollout | None:
        return await self._session.get(Rollout, rollout_id)  # RLS scopes it to the tenant

    async def get_for_update(self, rollout_id: uuid.UUID) -> Rollout | None:
        """The rollout, row-locked for this transaction (waiting for the orchestrator's pass
        over it to finish), re-read."""
        stmt = (
            select(Rollout)
            .where(Rollout.id == rollout_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self._session.scalars(stmt)).first()

    async def lock(self, rollout_id: uuid.UUID) -> Rollout | None:
        """The rollout, row-locked; None if absent or held by another orchestrator or a request."""
        stmt = (
            select(Rollout)
            .where(Rollout.id == rollout_id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        return (await self._session.scalars(stmt)).first()

    async def lock_endpoint(self, endpoint: Endpoint) -> None:
        """Row-lock the endpoint (re-read) until the transaction ends: a rollout starting and a
        manual split (which locks it too, then looks for an active rollout) go one at a time."""
        await self._session.refresh(endpoint, with_for_update=True)

    async def for_endpoint(self, endpoint_id: uuid.UUID, *, limit: int) -> list[Rollout]:
        """The endpoint's rollouts, newest first."""
        stmt = (
            select(Rollout)
            .where(Rollout.endpoint_id == endpoint_id)
            .order_by(Rollout.id.desc())
            .limit(limit)
        )
        return list(await self._session.scalars(stmt))

    async def active_for_endpoint(self, endpoint_id: uuid.UUID) -> Rollout | None:
        stmt = select(Rollout).where(
            Rollout.endpoint_id == endpoint_id, Rollout.status.in_([s.value for s in ACTIVE])
        )
        return (await self._session.scalars(stmt)).first()

    async def transition(self, rollout: Rollout, **values: Any) -> bool:
        """Write ``values`` only while the row still has the status and step ``rollout`` was
        read with; True when written (``rollout`` refreshed from the row either way)."""
        if self._session.is_modified(rollout):
            # A pending change would be flushed ahead of the UPDATE, unconditionally.
            raise ValueError(f"rollout {rollout.id}: unflushed changes; pass them as values")
        stmt = (
            update(Rollout)
            .where(
                Rollout.id == rollout.id,
                Rollout.status == rollout.status,
                Rollout.step == rollout.step,
            )
            .values(**values)
            .returning(Rollout)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        if (await self._session.scalars(stmt)).first() is not None:
            return True
        await self._session.refresh(rollout)
        return False

    async def due(self, *, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(rollout id, organization id) of running rollouts across tenants (SECURITY DEFINER,
        ids only), the longest-waiting step first."""
        rows = await self._session.execute(
            text("SELECT rollout_id, organization_id FROM raylane_rollouts_due(:n)"), {"n": limit}
        )
        return [(r.rollout_id, r.organization_id) for r in rows]
