"""Chats in flight per organization: a Redis semaphore whose slots are leases.

A chat holds one slot from before retrieval until its last token (or its client leaves). The
slot is a member of a sorted set scored by its lease's expiry; the holder renews the lease while
it runs, so a process that dies holding slots frees them when their leases lapse, not never.
Acquiring drops lapsed leases and adds one only below the cap, in one script (no race between
two replicas counting the same set).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import redis
import redis.asyncio as aioredis

from raylane.errors import RateLimited, ServiceUnavailable

log = logging.getLogger("raylane.quotas")

# KEYS[1] the set; ARGV: cap, lease in ms, slot id. Time is Redis's own, so every replica agrees.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
if redis.call('PTTL', KEYS[1]) < lease + 1000 then redis.call('PEXPIRE', KEYS[1], lease + 1000) end
return 1
"""
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + lease, ARGV[2])
if redis.call('PTTL', KEYS[1]) < lease + 1000 then redis.call('PEXPIRE', KEYS[1], lease + 1000) end
return 1
"""

_finishing: set[asyncio.Task[Any]] = set()


async def run_to_completion(work: Coroutine[Any, Any, Any]) -> None:
    """Run clean-up (a slot's release, a charge) to the end even if the caller is cancelled.

    A client that hangs up cancels the task streaming to it, and the cancellation is delivered
    again at every await of that task: awaited directly, the clean-up would stop at its first
    round trip. As its own task it finishes; the caller may be interrupted while waiting on it.
    """
    task = asyncio.ensure_future(work)
    _finishing.add(task)
    task.add_done_callback(_finishing.discard)
    await asyncio.shield(task)


class ChatSlots:
    """At most ``limit`` chats in flight per organization, across every API process."""

    def __init__(
        self, client: aioredis.Redis, *, limit: int, lease_s: float, retry_after_s: float
    ) -> None:
        self._client, self.limit = client, limit
        self._lease_ms = int(lease_s * 1000)
        self._retry_after = retry_after_s
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)

    @staticmethod
    def key(organization_id: uuid.UUID) -> str:
        return f"chat:slots:{organization_id}"

    @contextlib.asynccontextmanager
    async def hold(self, organization_id: uuid.UUID) -> AsyncIterator[None]:
        """Hold one of the organization's slots for the body's length.

        Raises:
            RateLimited: every slot is taken (429 with Retry-After).
            ServiceUnavailable: Redis unreachable (fail closed, like the rate limits).
        """
        if not self.limit:
            yield
            return
        key, slot = self.key(organization_id), uuid.uuid4().hex
        try:
            taken = await self._acquire(keys=[key], args=[self.limit, self._lease_ms, slot])
        except (redis.RedisError, OSError) as exc:
            raise ServiceUnavailable("chat limiter unavailable (Redis unreachable)") from exc
        if not int(taken):
            raise RateLimited(
                f"{self.limit} chats of this organization are already in flight; "
                "retry when one finishes",
                retry_after=self._retry_after,
                limit=self.limit,
                scope="chats",
            )
        renewer = asyncio.ensure_future(self._keep(key, slot))
        try:
            yield
        finally:
            renewer.cancel()
            await run_to_completion(self._release(key, slot))

    async def _keep(self, key: str, slot: str) -> None:
        """Renew the lease at a third of its length while the chat runs."""
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            try:
                await self._renew(keys=[key], args=[self._lease_ms, slot])
            except (redis.RedisError, OSError):  # the lease still runs; try again next time
                log.warning("chat slot lease not renewed", extra={"slot_key": key})

    async def _release(self, key: str, slot: str) -> None:
        try:
            await self._client.zrem(key, slot)
        except (redis.RedisError, OSError):  # the lease lapses on its own
            log.warning("chat slot not released; its lease will lapse", extra={"slot_key": key})
