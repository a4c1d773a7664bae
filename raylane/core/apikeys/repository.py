"""All SQL for API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update

from raylane.core.apikeys.models import ApiKey
from raylane.infra.db.repository import Repository

_LOOKUP = text("SELECT * FROM raylane_api_key_lookup(:prefix)")


class ApiKeyRepository(Repository[ApiKey]):
    model = ApiKey

    async def lookup(self, prefix: str) -> Any | None:
        """The key, its membership and user flags, across tenants (a SECURITY DEFINER function)."""
        return (await self._session.execute(_LOOKUP, {"prefix": prefix})).first()

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
