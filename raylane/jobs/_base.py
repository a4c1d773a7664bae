"""What every job entrypoint shares: resolve the run's tenant, check it is running, report
progress, and record success (a conditional transition: a cancelled run stays cancelled).
A failure exits non-zero so the RunReconciler retries or dead-letters it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from raylane.core.runs.models import Run, RunStatus
from raylane.core.runs.repository import RunRepository
from raylane.infra.db.session import session_scope

log = logging.getLogger("raylane.jobs")


class Cancelled(Exception):
    """The run was cancelled while the job was working."""


@dataclass
class RunContext:
    run_id: uuid.UUID
    organization_id: uuid.UUID
    target_id: uuid.UUID | None
    params: dict[str, Any]

    async def progress(self, **values: Any) -> None:
        """Merge ``values`` into the run's progress; raise Cancelled if a cancel was asked."""
        async with session_scope(organization_id=self.organization_id) as session:
            run = await RunRepository(session).get(self.run_id)
            assert run is not None
            if run.status in (RunStatus.CANCELLING, RunStatus.CANCELLED):
                raise Cancelled(str(self.run_id))
            run.progress = {**run.progress, **values, "updated_at": datetime.now(UTC).isoformat()}


async def _open(run_id: uuid.UUID) -> RunContext:
    async with session_scope() as session:
        org = await RunRepository(session).tenant_of(run_id)
    if org is None:
        raise SystemExit(f"run {run_id} not found")
    async with session_scope(organization_id=org) as session:
        run = await RunRepository(session).get(run_id)
        assert run is not None
        if run.status != RunStatus.RUNNING:
            raise SystemExit(f"run {run_id} is {run.status}, not running")
        return RunContext(run.id, org, run.target_id, dict(run.params))


async def _close(ctx: RunContext, result: dict[str, Any]) -> bool:
    """Record success: ``running`` -> ``succeeded`` only. False when the run moved on first (a
    cancel, or the reconciler gave this attempt up): that status stands, the result is dropped."""
    async with session_scope(organization_id=ctx.organization_id) as session:
        repo = RunRepository(session)
        run: Run | None = await repo.get(ctx.run_id)
        if run is None or run.status != RunStatus.RUNNING:
            return False
        return await repo.transition(
            run,
            to=RunStatus.SUCCEEDED,
            result=result,
            finished_at=datetime.now(UTC),
            error=None,
        )


def main(handler: Callable[[RunContext], Awaitable[dict[str, Any]]]) -> None:
    """Parse ``--run-id``, run ``handler`` and record its result."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-id", type=uuid.UUID, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    async def go() -> None:
        ctx = await _open(args.run_id)
        log.info("run %s started (organization %s)", ctx.run_id, ctx.organization_id)
        try:
            result = await handler(ctx)
        except Cancelled:
            log.info("run %s cancelled", ctx.run_id)
            sys.exit(1)
        if not await _close(ctx, result):
            # Cancelled (or given up) while finishing: exit as a cancelled job does.
            log.info("run %s ended before its result was recorded", ctx.run_id)
            sys.exit(1)
        log.info("run %s succeeded: %s", ctx.run_id, result)

    asyncio.run(go())
