"""The only module that talks to Ray: cluster health, the Job Submission API, named actors."""

from __future__ import annotations

import asyncio

from raylane.core.errors import ServiceUnavailable


async def ray_health() -> None:
    """Raise unless this process is connected to a live Ray cluster."""
    import ray

    if not ray.is_initialized():
        raise ServiceUnavailable("this process is not connected to Ray")
    resources = await asyncio.to_thread(ray.cluster_resources)
    if not resources:
        raise ServiceUnavailable("Ray reports no resources")
