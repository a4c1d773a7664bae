"""Keeps Postgres in step with Ray: submits queued runs, follows running ones, retries with
exponential backoff, dead-letters when attempts run out, and stops cancelled ones.

Safe to run in several places at once: each run is handled under a row lock (SKIP LOCKED).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from raylane.core import compute
from raylane.core.config import Settings
from raylane.core.db.session import session_scope
from raylane.core.errors import ServiceUnavailable
from raylane.core.runs.models import Run, RunStatus
from raylane.core.runs.repository import RunRepository

log = logging.getLogger(__name__)


async def reconcile_once(settings: Settings, *, limit: int = 100) -> int:
    """One pass over the runs that need attention; returns how many were looked at."""
    async with session_scope() as session:
        due = await RunRepository(session).needing_attention(limit)
    for run_id, organization_id in due:
        try:
            async with session_scope(organization_id=organization_id) as session:
                run = await RunRepository(session).lock(run_id)
                if run is not None:
                    await _step(run, settings)
        except Exception:  # one bad run must not stall the others
            log.exception("reconcile failed", extra={"run_id": str(run_id)})
    return len(due)


async def _step(run: Run, settings: Settings) -> None:
    if run.status == RunStatus.QUEUED:
        await _submit(run, settings)
    elif run.status in (RunStatus.RUNNING, RunStatus.CANCELLING) and run.ray_job_id:
        await _follow(run, settings)
    elif run.status == RunStatus.CANCELLING:
        _finish(run, RunStatus.CANCELLED)


async def _submit(run: Run, settings: Settings) -> None:
    attempt = run.attempts + 1
    try:
        job_id = await asyncio.to_thread(
            compute.submit_job,
            kind=run.kind,
            run_id=run.id,
            attempt=attempt,
            organization_id=run.organization_id,
            settings=settings,
        )
    except ServiceUnavailable as exc:
        # Ray is unreachable: not the run's fault, so no attempt is spent.
        run.next_attempt_at = datetime.now(UTC) + timedelta(seconds=settings.runs.backoff_s)
        run.error = str(exc)
        return
    except Exception as exc:  # Ray refused this submission: an attempt spent, then dead-letter
        run.attempts = attempt
        _retry_or_dead_letter(run, settings, f"submission refused: {exc}")
        return
    run.attempts, run.ray_job_id, run.status = attempt, job_id, RunStatus.RUNNING
    run.started_at = run.started_at or datetime.now(UTC)
    run.error = None
    log.info("submitted run", extra={"run_id": str(run.id), "job": job_id})


async def _follow(run: Run, settings: Settings) -> None:
    assert run.ray_job_id is not None
    if run.status == RunStatus.CANCELLING:
        await asyncio.to_thread(compute.stop_job, run.ray_job_id, settings)
    state = await asyncio.to_thread(compute.job_state, run.ray_job_id, settings)
    if state.status in ("PENDING", "RUNNING"):
        return
    if run.status == RunStatus.CANCELLING:
        _finish(run, RunStatus.CANCELLED)
    elif state.status == "SUCCEEDED":
        _finish(run, RunStatus.SUCCEEDED)  # the job normally marks this itself
    else:
        _retry_or_dead_letter(run, settings, state.message or state.status)


def _retry_or_dead_letter(run: Run, settings: Settings, error: str) -> None:
    run.error = f"attempt {run.attempts}: {error}"[:4000]
    if run.attempts >= run.max_attempts:
        _finish(run, RunStatus.FAILED)
        log.warning("run dead-lettered", extra={"run_id": str(run.id)})
        return
    delay = settings.runs.backoff_s * 2 ** (run.attempts - 1)
    run.status = RunStatus.QUEUED
    run.next_attempt_at = datetime.now(UTC) + timedelta(seconds=delay)


def _finish(run: Run, status: RunStatus) -> None:
    run.status, run.finished_at = status, datetime.now(UTC)
