"""The detached RolloutOrchestrator actor: runs the rollout pass (``orchestrate.tick``) every
second, forever.

One per platform (get-or-create by name in the settings' namespace). Killed, Ray restarts it
(``max_restarts=-1``) and the new instance starts its loop in its constructor; it keeps no
state of its own: each rollout resumes from its row.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading

import ray

from raylane.actors.detached import ensure_started
from raylane.config import Settings, get_settings

NAME = "raylane-rollout-orchestrator"
INTERVAL_S = 1.0
log = logging.getLogger(__name__)


@ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=4)  # type: ignore[call-overload]  # stubs lack actor options
class RolloutOrchestrator:
    def __init__(self) -> None:
        self.passes = 0
        self.analysed = 0
        self.pid = os.getpid()
        self._thread: threading.Thread | None = None
        # The loop starts with the actor, so one that Ray restarts after a crash or a kill
        # resumes by itself; its own thread and event loop keep it apart from the actor's calls.
        self.start()

    def start(self) -> bool:
        """Start the loop if it is not running; idempotent."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=lambda: asyncio.run(self._loop()), name="rollouts", daemon=True
            )
            self._thread.start()
        return True

    def stats(self) -> dict[str, int]:
        return {"passes": self.passes, "analysed": self.analysed, "pid": self.pid}

    async def _loop(self) -> None:
        from raylane.core.rollouts.orchestrate import tick
        from raylane.infra import kv

        settings = get_settings()
        client = kv.async_client(kv.redis_url(settings))
        while True:
            try:
                self.analysed += await tick(settings, kv=client)
            except Exception:  # the database or Redis may be briefly away; keep trying
                log.exception("rollout pass failed")
            self.passes += 1
            await asyncio.sleep(INTERVAL_S)


def ensure_running(settings: Settings | None = None) -> None:
    """Start the detached orchestrator if absent (get-or-create by name), then its loop."""
    ensure_started(RolloutOrchestrator, NAME, settings or get_settings())
