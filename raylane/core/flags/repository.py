"""All SQL for feature flags."""

from __future__ import annotations

from sqlalchemy import select

from raylane.core.flags.models import FeatureFlag
from raylane.infra.db.repository import Repository


class FeatureFlagRepository(Repository[FeatureFlag]):
    model = FeatureFlag

    async def by_key(self, key: str) -> FeatureFlag | None:
        stmt = select(FeatureFlag).where(FeatureFlag.key == key)
        return (await self._session.scalars(stmt)).first()
