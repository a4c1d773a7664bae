"""What a running app holds (settings, database, Redis, limiter, ...); built in the lifespan."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from sqlalchemy import text

from raylane.config import Settings
from raylane.core.apikeys.gate import RequestGate
from raylane.core.ports import Copilot, Embed
from raylane.core.quotas.service import TokenQuota
from raylane.infra import compute, embeddings
from raylane.infra.db.session import Database, check_role
from raylane.infra.db.urls import app_url, replica_url
from raylane.infra.kv import async_client, redis_url
from raylane.infra.storage import ObjectStore, store_from_settings
from raylane.schemas.health import ComponentHealth, HealthRead

log = logging.getLogger(__name__)


def check_database_roles(settings: Settings) -> None:
    """Refuse to start when the application or replica role escapes row-level security.

    Every pooled connection checks its role again when it opens (``apply_session_settings``),
    so a database that is down now is checked when it comes back; only a privileged role stops
    start-up here.

    Raises:
        UnsafeDatabaseRole: a role is superuser or BYPASSRLS.
    """
    import psycopg

    urls = {"application": app_url(settings)}
    if settings.database_replica_url:
        urls["replica"] = replica_url(settings)
    for what, url in urls.items():
        try:
            check_role(url)
        except psycopg.OperationalError as exc:
            log.warning(
                "%s database unreachable at start-up; role checked on connect: %s", what, exc
            )


def local_embedder(settings: Settings) -> Embed:
    """Embed in this process (plain uvicorn, tests); under Serve the Embedder deployment does."""

    async def embed(model: str, text: str) -> list[float]:
        def run() -> list[float]:
            encoder = embeddings.load_named(model, settings, settings.embeddings.threads)
            return embeddings.encode(encoder, [text])[0]

        return await asyncio.to_thread(run)

    return embed


@dataclass
class Platform:
    settings: Settings
    db: Database
    redis: aioredis.Redis
    gate: RequestGate
    store: ObjectStore
    embed: Embed
    quota: TokenQuota
    copilot: Copilot
    read_db: Database

    @classmethod
    def open(
        cls, settings: Settings, *, embed: Embed | None = None, copilot: Copilot | None = None
    ) -> Platform:
        """``copilot`` is the Serve port under Serve; by default the engine runs in-process.

        Raises:
            UnsafeDatabaseRole: the application or replica role is superuser or BYPASSRLS.
        """
        check_database_roles(settings)
        db = Database(app_url(settings), pool_size=settings.database_pool_size)
        read_db = (
            Database(replica_url(settings), pool_size=settings.database_pool_size)
            if settings.database_replica_url
            else db
        )
        client = async_client(redis_url(settings))
        embed = embed or local_embedder(settings)
        quota = TokenQuota(client, daily_tokens=settings.quotas.daily_tokens)
        if copilot is None:
            from raylane.serve.copilot import LocalCopilot

            copilot = LocalCopilot(settings, db, embed, quota)
        return cls(
            settings=settings,
            db=db,
            redis=client,
            gate=RequestGate(client, settings),
            store=store_from_settings(settings),
            embed=embed,
            quota=quota,
            copilot=copilot,
            read_db=read_db,
        )

    async def close(self) -> None:
        await self.db.dispose()
        if self.read_db is not self.db:
            await self.read_db.dispose()
        await self.redis.aclose()

    async def health(self, timeout: float = 2.0) -> HealthRead:
        """Probe each dependency concurrently, with a deadline each."""
        checks = {"database": self._db_ok, "redis": self._redis_ok, "ray": compute.ray_health}
        results = await asyncio.gather(*(_timed(fn, timeout) for fn in checks.values()))
        components = dict(zip(checks, results, strict=True))
        ok = all(c.status == "up" for c in components.values())
        return HealthRead(status="ok" if ok else "degraded", components=components)

    async def _db_ok(self) -> None:
        async with self.db.session() as session:
            await session.execute(text("SELECT 1"))

    async def _redis_ok(self) -> None:
        await self.redis.ping()


async def _timed(fn, timeout: float) -> ComponentHealth:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    try:
        await asyncio.wait_for(fn(), timeout)
        status, detail = "up", None
    except Exception as exc:  # a health probe reports every failure, whatever its type
        # Health answers need no key: the kind of failure only, the text (hosts, users) to the log.
        log.warning("health check %s failed: %s", getattr(fn, "__name__", fn), exc)
        status, detail = "down", "timeout" if isinstance(exc, TimeoutError) else "unavailable"
    latency = round((time.perf_counter() - start) * 1000, 2)
    return ComponentHealth(status=status, latency_ms=latency, detail=detail)
