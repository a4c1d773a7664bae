"""The Redis client: where it is (``RAYLANE_REDIS_URL`` or the embedded server) and a client."""

from __future__ import annotations

import redis.asyncio as aioredis

from raylane.config import Settings, get_settings
from raylane.infra.embedded_redis import embedded_socket


def redis_url(settings: Settings | None = None) -> str:
    """``RAYLANE_REDIS_URL``, or the embedded server's unix socket."""
    settings = settings or get_settings()
    if settings.redis_url:
        return settings.redis_url
    return f"unix://{embedded_socket(settings.data_dir)}"


def async_client(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
