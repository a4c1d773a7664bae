"""The detached RunReconciler actor: runs ``reconcile_once`` in a loop, forever."""

from __future__ import annotations

import asyncio
import logging

import ray

from raylane.actors.detached import ensure_started
from raylane.config import Settings, get_settings

NAME = "raylane-run-reconciler"
log = logging.getLogger(__name__)


@ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=4)  # type: ignore[call-overload]  # stubs lack actor options
class RunReconciler:
    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self.passes = 0

    async def start(self) -> bool:
        """Start the loop if it is not running; idempotent."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop())
        return True

    async def stats(self) -> dict[str, int]:
        return {"passes": self.passes}

    async def _loop(self) -> None:
        from raylane.core.collections.objects import sweep_object_deletions
        from raylane.core.runs.reconcile import FollowCursor, reconcile_once

        settings = get_settings()
        cursor = FollowCursor()  # pages through running runs across passes
        while True:
            try:
                await reconcile_once(settings, cursor=cursor)
            except Exception:  # the database may be briefly away; keep trying
                log.exception("reconcile pass failed")
            await sweep_object_deletions(settings)  # stored objects whose rows are gone
            self.passes += 1
            await asyncio.sleep(settings.runs.reconcile_interval_s)


def ensure_running(settings: Settings | None = None) -> None:
    """Start the detached reconciler if absent (get-or-create by name), then its loop."""
    ensure_started(RunReconciler, NAME, settings or get_settings())
