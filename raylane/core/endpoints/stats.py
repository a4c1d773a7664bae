"""Per-version request windows in Redis: what a rollout's analysis compares.

Prometheus has the same figures for dashboards, but an analysis needs "canary vs stable over the
last interval" from inside the platform, per endpoint and version, without a Prometheus server.
So every routed request also lands in a Redis hash for its 5-second bucket
(``raylane:ep:{endpoint}:{version}:{bucket}``): counters for requests, errors, guardrail blocks,
tokens, and a fixed latency histogram. A window sums the buckets it overlaps (5 s resolution)
and reads p95 off the summed histogram. Buckets expire after two days.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from dataclasses import dataclass

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

BUCKET_S = 5
TTL_S = 2 * 24 * 3600
# Upper bounds (ms) of the latency histogram; the last bucket is everything above.
LATENCY_BOUNDS_MS: tuple[float, ...] = (
    5,
    10,
    25,
    50,
    100,
    175,
    250,
    400,
    600,
    1000,
    1500,
    2500,
    4000,
    6000,
    10000,
    20000,
    30000,
    60000,
)
_MAX_BUCKETS = 50_000  # ~69 hours of 5 s buckets: more than the TTL keeps


@dataclass(frozen=True)
class VersionStats:
    """One version's figures over a window."""

    requests: int
    errors: int
    blocked: int
    tokens: int
    p95_ms: float | None  # None when there were no requests

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def block_rate(self) -> float:
        return self.blocked / self.requests if self.requests else 0.0


def _key(endpoint_id: uuid.UUID | str, version: str, bucket: int) -> str:
    return f"raylane:ep:{endpoint_id}:{version}:{bucket}"


def _latency_field(latency_ms: float) -> str:
    for i, bound in enumerate(LATENCY_BOUNDS_MS):
        if latency_ms <= bound:
            return f"l{i}"
    return f"l{len(LATENCY_BOUNDS_MS)}"


async def record(
    kv: aioredis.Redis,
    *,
    endpoint_id: uuid.UUID | str,
    version: str,
    ok: bool,
    latency_ms: float,
    blocked: bool = False,
    tokens: int = 0,
    at: float | None = None,
) -> None:
    """Count one request of ``version`` in its 5-second bucket (one round trip)."""
    bucket = int((time.time() if at is None else at) // BUCKET_S) * BUCKET_S
    key = _key(endpoint_id, version, bucket)
    async with kv.pipeline(transaction=False) as pipe:
        pipe.hincrby(key, "n", 1)
        if not ok:
            pipe.hincrby(key, "err", 1)
        if blocked:
            pipe.hincrby(key, "blk", 1)
        if tokens:
            pipe.hincrby(key, "tok", int(tokens))
        pipe.hincrby(key, _latency_field(max(0.0, latency_ms)), 1)
        pipe.expire(key, TTL_S)
        await pipe.execute()


class Recorder:
    """What the router uses: ``add`` counts a request in memory (no I/O on the request's path)
    and one pipeline every ``interval_s`` writes what accumulated, into the same buckets as
    :func:`record`. Windows see a request at most ``interval_s`` late; a process that dies
    loses at most that much of its counts."""

    def __init__(self, kv: aioredis.Redis, *, interval_s: float = 0.25) -> None:
        self._kv, self._interval = kv, interval_s
        self._pending: dict[str, dict[str, int]] = {}
        self._task: asyncio.Task[None] | None = None

    def add(
        self,
        *,
        endpoint_id: uuid.UUID | str,
        version: str,
        ok: bool,
        latency_ms: float,
        blocked: bool = False,
        tokens: int = 0,
        at: float | None = None,
    ) -> None:
        """Count one request of ``version``; written by the next flush."""
        bucket = int((time.time() if at is None else at) // BUCKET_S) * BUCKET_S
        fields = self._pending.setdefault(_key(endpoint_id, version, bucket), {})
        for name, n in (
            ("n", 1),
            ("err", 0 if ok else 1),
            ("blk", 1 if blocked else 0),
            ("tok", int(tokens)),
            (_latency_field(max(0.0, latency_ms)), 1),
        ):
            if n:
                fields[name] = fields.get(name, 0) + n
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def flush(self) -> None:
        """Write every count added so far (one pipeline)."""
        pending, self._pending = self._pending, {}
        if not pending:
            return
        async with self._kv.pipeline(transaction=False) as pipe:
            for key, fields in pending.items():
                for name, n in fields.items():
                    pipe.hincrby(key, name, n)
                pipe.expire(key, TTL_S)
            await pipe.execute()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if not self._pending:  # idle: the next add starts a new flusher
                self._task = None
                return
            try:
                await self.flush()
            except Exception:  # counting must never fail serving; these counts are lost
                log.warning("endpoint metrics not written", exc_info=True)


def _p95(histogram: list[int], total: int) -> float | None:
    """The 95th percentile read off the histogram, interpolated linearly inside its bucket
    (as Prometheus' ``histogram_quantile`` does); past the last bound, that bound."""
    if total <= 0:
        return None
    rank = 0.95 * total
    seen = 0
    for i, count in enumerate(histogram):
        if count and seen + count >= rank:
            if i >= len(LATENCY_BOUNDS_MS):
                return float(LATENCY_BOUNDS_MS[-1])
            lower = 0.0 if i == 0 else float(LATENCY_BOUNDS_MS[i - 1])
            upper = float(LATENCY_BOUNDS_MS[i])
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return float(LATENCY_BOUNDS_MS[-1])


async def window(
    kv: aioredis.Redis,
    *,
    endpoint_id: uuid.UUID | str,
    version: str,
    start: float,
    end: float,
) -> VersionStats:
    """Sum ``version``'s buckets overlapping ``[start, end)`` (5 s resolution).

    Raises:
        ValueError: ``end`` before ``start`` or a window longer than the buckets are kept.
    """
    if end < start:
        raise ValueError("window end before its start")
    first = int(start // BUCKET_S) * BUCKET_S
    last = math.ceil(end / BUCKET_S) * BUCKET_S  # exclusive
    buckets = range(first, max(last, first + BUCKET_S), BUCKET_S)
    if len(buckets) > _MAX_BUCKETS:
        raise ValueError("window longer than the metrics are kept")
    async with kv.pipeline(transaction=False) as pipe:
        for bucket in buckets:
            pipe.hgetall(_key(endpoint_id, version, bucket))
        rows = await pipe.execute()
    requests = errors = blocked = tokens = 0
    histogram = [0] * (len(LATENCY_BOUNDS_MS) + 1)
    for row in rows:
        if not row:
            continue
        fields = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in row.items()}
        requests += fields.get("n", 0)
        errors += fields.get("err", 0)
        blocked += fields.get("blk", 0)
        tokens += fields.get("tok", 0)
        for i in range(len(histogram)):
            histogram[i] += fields.get(f"l{i}", 0)
    return VersionStats(
        requests=requests,
        errors=errors,
        blocked=blocked,
        tokens=tokens,
        p95_ms=_p95(histogram, sum(histogram)),
    )
