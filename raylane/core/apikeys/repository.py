"""All SQL for API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.apikeys.models import ApiKey
from raylane.infra.db.paging import Page, keyset_page

_LOOKUP = text("SELECT * FROM raylane_api_key_lookup(:prefix)")


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lookup(self, prefix: str) -> Any | None:
        """The key, its membership and user flags, across tenants (a SECURITY DEFINER function)."""
        return (await self._session.execute(_LOOKUP, {"prefix": prefix})).first()

    async def get(self, key_id: uuid.UUID) -> ApiKey | None:
        return await self._session.get(ApiKey, key_id)

    async def page(
        self, *, limit: int, cursor: str | None, user_id: uuid.UUID | None = None
    ) -> Page[ApiKey]:
        """Keys of the organization, or only ``user_id``'s."""
        stmt = select(ApiKey)
        if user_id is not None:
            stmt = stmt.where(ApiKey.user_id == user_id)
        return await keyset_page(self._session, stmt, ApiKey.id, limit=limit, cursor=cursor)

    async def revoke_for_user(self, user_id: uuid.UUID) -> int:
        stmt = (
            update(ApiKey)
            .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=func.now())
        )
        result = await self._session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)

    async def now(self) -> datetime:
        return (await self._session.execute(select(func.now()))).scalar_one()
