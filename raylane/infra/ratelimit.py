"""Rate limiting: GCRA over several scopes in one atomic Redis script."""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis

from raylane.errors import RateLimited, ServiceUnavailable

# GCRA over two scopes (API key, organization) in one atomic step: the request is admitted only if
# both admit it, and only then do both advance, so a refusal costs neither budget. ARGV[1] is the
# number of limits; a KEYS entry past them is read and its value returned last, so a caller can
# check something else (the auth cache's epoch) in the same round trip.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local n = tonumber(ARGV[1])
local read = false
if #KEYS > n then read = redis.call('GET', KEYS[n + 1]) end
local worst_retry, worst_remaining, worst_reset, worst_limit, worst_i = 0, 1e18, 0, 0, 0
local new = {}
for i = 1, n do
  local interval = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - burst * interval
  if now < allow_at then
    if allow_at - now > worst_retry then
      worst_retry = allow_at - now; worst_limit = burst; worst_i = i
    end
  else
    local remaining = math.floor((now - allow_at) / interval)
    if remaining < worst_remaining then
      worst_remaining = remaining; worst_reset = new_tat - now; worst_limit = burst
    end
  end
  new[i] = new_tat
end
if worst_retry > 0 then
  return {0, tostring(worst_retry), 0, worst_limit, worst_i, read}
end
for i = 1, n do
  redis.call('SET', KEYS[i], tostring(new[i]), 'PX', math.ceil((new[i] - now) * 1000) + 1000)
end
return {1, tostring(worst_reset), worst_remaining, worst_limit, 0, read}
"""


@dataclass(frozen=True)
class Limit:
    """``per_minute`` sustained, up to ``burst`` at once."""

    key: str
    per_minute: int
    burst: int


@dataclass(frozen=True)
class Admission:
    limit: int
    remaining: int
    reset_s: float
    read: bytes | None = None  # the value of ``admit(read=...)``'s key, if one was given


class RateLimiter:
    """Atomic GCRA limits in Redis. Redis unreachable means refusal (fail closed, 503)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._script = client.register_script(_GCRA)

    async def admit(self, *limits: Limit, read: str | None = None) -> Admission:
        """Admit one request against every limit, or raise RateLimited / ServiceUnavailable.

        ``read``: a key whose value comes back in ``Admission.read``, in the same round trip.
        """
        args: list[float] = [len(limits)]
        for lim in limits:
            args += [60.0 / lim.per_minute, lim.burst]
        keys = [f"rl:{lim.key}" for lim in limits] + ([read] if read else [])
        try:
            ok, seconds, remaining, limit, which, value = await self._script(keys=keys, args=args)
        except (redis.RedisError, OSError) as exc:
            raise ServiceUnavailable("rate limiter unavailable (Redis unreachable)") from exc
        if not int(ok):
            retry = float(seconds)
            scope = limits[int(which) - 1].key.split(":", 1)[0]
            raise RateLimited(
                f"{scope} rate limit exceeded; retry in {math.ceil(retry)} s",
                retry_after=retry,
                limit=int(limit),
                scope=scope,
            )
        return Admission(
            limit=int(limit), remaining=int(remaining), reset_s=float(seconds), read=value or None
        )
