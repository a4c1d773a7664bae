"""All SQL for feature flags."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.flags.models import FeatureFlag
from raylane.infra.db.paging import Page, keyset_page


class FeatureFlagRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, key: str) -> FeatureFlag | None:
        stmt = select(FeatureFlag).where(FeatureFlag.key == key)
        return (await self._session.scalars(stmt)).first()

    async def page(self, *, limit: int, cursor: str | None) -> Page[FeatureFlag]:
        stmt = select(FeatureFlag)
        return await keyset_page(self._session, stmt, FeatureFlag.id, limit=limit, cursor=cursor)
