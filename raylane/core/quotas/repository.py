"""All SQL for usage accounting."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from raylane.core.quotas.models import UsageDaily
from raylane.infra.db.repository import Repository


def today() -> date:
    """The current UTC day: quotas and usage rows roll over at 00:00 UTC."""
    return datetime.now(UTC).date()


class UsageRepository(Repository[UsageDaily]):
    model = UsageDaily

    async def count_request(
        self, organization_id: uuid.UUID, *, input_tokens: int, output_tokens: int
    ) -> None:
        day = today()
        stmt = insert(UsageDaily).values(
            id=uuid.uuid4(),
            organization_id=organization_id,
            day=day,
            requests=1,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["organization_id", "day"],
            set_={
                "requests": UsageDaily.requests + 1,
                "input_tokens": UsageDaily.input_tokens + input_tokens,
                "output_tokens": UsageDaily.output_tokens + output_tokens,
            },
        )
        await self._session.execute(stmt)

    async def recent(self, *, days: int) -> list[UsageDaily]:
        since = today() - timedelta(days=days - 1)
        stmt = select(UsageDaily).where(UsageDaily.day >= since).order_by(UsageDaily.day.desc())
        return list(await self._session.scalars(stmt))
