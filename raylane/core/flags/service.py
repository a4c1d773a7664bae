"""Feature flag use cases: per-organization switches with an optional JSON value."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.audit import audit_service
from raylane.core.flags.models import FeatureFlag
from raylane.core.flags.repository import FeatureFlagRepository
from raylane.core.rbac import Actor
from raylane.errors import NotFound
from raylane.infra.db.paging import Page
from raylane.infra.db.session import conflict_on_duplicate
from raylane.schemas.flags import FeatureFlagUpsert


def _summary(flag: FeatureFlag) -> dict[str, Any]:
    return {"enabled": flag.enabled, "value": flag.value}


class FeatureFlagService:
    async def get(self, session: AsyncSession, *, key: str) -> FeatureFlag:
        flag = await FeatureFlagRepository(session).by_key(key)
        if flag is None:
            raise NotFound("feature_flag", key)
        return flag

    async def is_enabled(self, session: AsyncSession, *, key: str, default: bool = False) -> bool:
        """Whether a flag is on for the session's organization (``default`` when unset)."""
        flag = await FeatureFlagRepository(session).by_key(key)
        return default if flag is None else flag.enabled

    async def page(
        self, session: AsyncSession, *, limit: int, cursor: str | None
    ) -> Page[FeatureFlag]:
        return await FeatureFlagRepository(session).page(limit=limit, cursor=cursor)

    async def set(
        self, session: AsyncSession, *, actor: Actor, key: str, data: FeatureFlagUpsert
    ) -> FeatureFlag:
        """Create or replace a flag."""
        repo = FeatureFlagRepository(session)
        flag = await repo.by_key(key)
        before = _summary(flag) if flag else None
        if flag is None:
            flag = FeatureFlag(organization_id=actor.organization_id, key=key)
        async with conflict_on_duplicate(session, f"feature flag {key!r}"):
            flag.enabled, flag.value, flag.description = data.enabled, data.value, data.description
            await repo.add(flag)
        await audit_service.log(
            session,
            actor,
            "feature_flag.set",
            target=("feature_flag", key),  # flags are known by key, not by row id
            before=before,
            after=_summary(flag),
        )
        return flag

    async def delete(self, session: AsyncSession, *, actor: Actor, key: str) -> None:
        flag = await self.get(session, key=key)
        await FeatureFlagRepository(session).delete(flag)
        await audit_service.log(
            session,
            actor,
            "feature_flag.delete",
            target=("feature_flag", key),
            before=_summary(flag),
        )


feature_flag_service = FeatureFlagService()
