"""Daily token quotas (Redis, atomic) and usage accounting (Postgres, per organization per day).

A chat reserves its worst case (prompt + max_tokens) before the model starts, so requests
running at once cannot together pass the quota, and settles to what was generated when it ends,
however it ends (finished, blocked, or its client gone).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.quotas.models import UsageDaily
from raylane.core.quotas.repository import UsageRepository, today
from raylane.errors import RateLimited, ServiceUnavailable


def _seconds_to_midnight() -> float:
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    return (midnight - now).total_seconds()


# KEYS[1] today's counter; ARGV: tokens wanted, the daily quota (0: unlimited). Check and add in
# one step, so two replicas cannot both see the same room.
_RESERVE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local want, daily = tonumber(ARGV[1]), tonumber(ARGV[2])
if daily > 0 and used + want > daily then return {0, used} end
local now = redis.call('INCRBY', KEYS[1], want)
redis.call('EXPIRE', KEYS[1], 172800)
return {1, now}
"""


@dataclass(frozen=True)
class Reservation:
    """Tokens set aside for one request on one day's counter (settled on that same counter)."""

    organization_id: uuid.UUID
    key: str
    tokens: int


class TokenQuota:
    """Tokens used today per organization, counted in Redis so every replica sees one total."""

    def __init__(self, client: aioredis.Redis, *, daily_tokens: int) -> None:
        self._client, self.daily_tokens = client, daily_tokens
        self._reserve = client.register_script(_RESERVE)

    def _key(self, organization_id: uuid.UUID) -> str:
        return f"quota:tokens:{organization_id}:{today().isoformat()}"

    async def used(self, organization_id: uuid.UUID) -> int:
        try:
            value = await self._client.get(self._key(organization_id))
        except (redis.RedisError, OSError) as exc:
            raise ServiceUnavailable("quota store unavailable (Redis unreachable)") from exc
        return int(value or 0)

    async def reserve(self, organization_id: uuid.UUID, tokens: int) -> Reservation:
        """Set ``tokens`` aside against today's quota, or refuse if they do not fit.

        Raises:
            RateLimited: the tokens would take the organization past its daily quota (429,
                Retry-After to UTC midnight).
            ServiceUnavailable: Redis unreachable.
        """
        key = self._key(organization_id)
        try:
            ok, used = await self._reserve(keys=[key], args=[tokens, self.daily_tokens])
        except (redis.RedisError, OSError) as exc:
            raise ServiceUnavailable("quota store unavailable (Redis unreachable)") from exc
        if not int(ok):
            left = max(self.daily_tokens - int(used), 0)
            raise RateLimited(
                f"this request may use up to {tokens} tokens (prompt + max_tokens) and "
                f"{left} of the daily quota of {self.daily_tokens} are left; lower max_tokens "
                "or wait for the reset at 00:00 UTC",
                retry_after=_seconds_to_midnight(),
                limit=self.daily_tokens,
                scope="tokens",
            )
        return Reservation(organization_id, key, tokens)

    async def settle(self, reservation: Reservation, used: int) -> None:
        """Replace a reservation by the tokens actually used (on the day it was made)."""
        await self._incr(reservation.key, used - reservation.tokens)

    async def _incr(self, key: str, tokens: int) -> None:
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
