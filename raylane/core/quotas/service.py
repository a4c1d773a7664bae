"""Daily token quotas (Redis, atomic) and usage accounting (Postgres, per organization per day)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.errors import RateLimited, ServiceUnavailable
from raylane.core.quotas.models import UsageDaily
from raylane.core.quotas.repository import UsageRepository, today


def _seconds_to_midnight() -> float:
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    return (midnight - now).total_seconds()


class TokenQuota:
    """Tokens used today per organization, counted in Redis so every replica sees one total."""

    def __init__(self, client: aioredis.Redis, *, daily_tokens: int) -> None:
        self._client, self.daily_tokens = client, daily_tokens

    def _key(self, organization_id: uuid.UUID) -> str:
        return f"quota:tokens:{organization_id}:{today().isoformat()}"

    async def used(self, organization_id: uuid.UUID) -> int:
        try:
            value = await self._client.get(self._key(organization_id))
        except (redis.RedisError, OSError) as exc:
            raise ServiceUnavailable("quota store unavailable (Redis unreachable)") from exc
        return int(value or 0)

    async def check(self, organization_id: uuid.UUID) -> int:
        """Tokens left today; raises RateLimited (429, Retry-After to UTC midnight) at zero."""
        if not self.daily_tokens:
            return 2**62
        left = self.daily_tokens - await self.used(organization_id)
        if left <= 0:
            raise RateLimited(
                f"daily token quota of {self.daily_tokens} tokens is used up; "
                "it resets at 00:00 UTC",
                retry_after=_seconds_to_midnight(),
                limit=self.daily_tokens,
                scope="tokens",
            )
        return left

    async def add(self, organization_id: uuid.UUID, tokens: int) -> None:
        key = self._key(organization_id)
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incrby(key, tokens)  # queued: a pipeline command returns the pipeline
                pipe.expire(key, 2 * 86400)
                await pipe.execute()
        except (redis.RedisError, OSError) as exc:
            raise ServiceUnavailable("quota store unavailable (Redis unreachable)") from exc


@dataclass(frozen=True)
class UsageReport:
    days: list[UsageDaily]
    daily_token_quota: int
    tokens_used_today: int


async def usage_report(
    session: AsyncSession, *, quota: TokenQuota, organization_id: uuid.UUID, days: int
) -> UsageReport:
    """Per-day usage from Postgres plus today's live count from the quota store."""
    rows = await UsageRepository(session).recent(days=days)
    return UsageReport(rows, quota.daily_tokens, await quota.used(organization_id))
