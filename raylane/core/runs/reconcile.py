"""Keeps Postgres in step with Ray: submits queued runs, follows running ones, retries with
exponential backoff, dead-letters when attempts run out (``dead_lettered``, replayable), stops
cancelled ones, and deletes expired idempotency keys.

Safe to run in several places at once: each run is handled under a row lock (SKIP LOCKED), and
every status change is a conditional transition (``RunRepository.transition``), so an API cancel
or a job's own close racing this pass can never be overwritten by it, nor overwrite it.

Queued runs and running runs come from two lists, so runs that take hours never crowd out new
submissions; queued runs are taken from organizations in turn, each within
``settings.runs.max_running_per_org`` runs holding a Ray job.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from raylane.config import Settings
from raylane.core.runs.models import Run, RunStatus
from raylane.core.runs.repository import RunRepository
from raylane.errors import ServiceUnavailable
from raylane.infra import compute
from raylane.infra.db.session import session_scope

log = logging.getLogger(__name__)


@dataclass
class FollowCursor:
    """Where the next pass resumes following running runs (None: from the start)."""

    after: uuid.UUID | None = None


async def reconcile_once(
    settings: Settings, *, limit: int = 100, cursor: FollowCursor | None = None
) -> int:
    """One pass: follow up to ``limit`` running runs (from ``cursor``) and submit up to
    ``limit`` queued ones; returns how many runs were looked at."""
    cursor = cursor if cursor is not None else FollowCursor()
    async with session_scope() as session:
        repo = RunRepository(session)
        to_follow = await repo.to_follow(after=cursor.after, limit=limit)
        to_submit = await repo.to_submit(limit=limit, max_running=settings.runs.max_running_per_org)
        await repo.purge_idempotency_keys(limit=limit)
    # A short page means the end was reached: the next pass starts over.
    cursor.after = to_follow[-1][0] if len(to_follow) == limit else None
    # Following first frees the slots of finished runs before submitting.
    for run_id, organization_id in [*to_follow, *to_submit]:
        try:
            async with session_scope(organization_id=organization_id) as session:
                repo = RunRepository(session)
                run = await repo.lock(run_id)
                if run is not None:
                    await _step(run, settings, repo)
        except Exception:  # one bad run must not stall the others
            log.exception("reconcile failed", extra={"run_id": str(run_id)})
    return len(to_follow) + len(to_submit)


async def _step(run: Run, settings: Settings, repo: RunRepository) -> None:
    if run.status == RunStatus.QUEUED:
        await _submit(run, settings, repo)
    elif run.status in (RunStatus.RUNNING, RunStatus.CANCELLING) and run.ray_job_id:
        await _follow(run, settings, repo)
    elif run.status == RunStatus.CANCELLING:
        await _finish(run, repo, RunStatus.CANCELLED)


async def _submit(run: Run, settings: Settings, repo: RunRepository) -> None:
    now = datetime.now(UTC)
    if run.next_attempt_at is not None and run.next_attempt_at > now:
        return  # listed by an earlier snapshot, then requeued with a backoff meanwhile
    if not await repo.hold_submission_slot(run.organization_id, settings.runs.max_running_per_org):
        return  # the organization is at its limit: the run waits queued, nothing spent
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
        retry_at = datetime.now(UTC) + timedelta(seconds=settings.runs.backoff_s)
        await repo.transition(run, to=RunStatus.QUEUED, next_attempt_at=retry_at, error=str(exc))
        return
    except Exception:  # Ray refused this submission: an attempt spent, then dead-letter
        # The run's error is shown to its tenant; what Ray said goes to the log only.
        log.exception("submission of run %s refused", run.id)
        await _retry_or_dead_letter(
            run, settings, repo, "submission refused by the Ray Job API", attempts=attempt
        )
        return
    await repo.transition(
        run,
        to=RunStatus.RUNNING,
        attempts=attempt,
        ray_job_id=job_id,
        started_at=run.started_at or datetime.now(UTC),
        error=None,
    )
    log.info("submitted run", extra={"run_id": str(run.id), "job": job_id})


async def _follow(run: Run, settings: Settings, repo: RunRepository) -> None:
    assert run.ray_job_id is not None
    if run.status == RunStatus.CANCELLING:
        await asyncio.to_thread(compute.stop_job, run.ray_job_id, settings)
    state = await asyncio.to_thread(compute.job_state, run.ray_job_id, settings)
    if state.status in ("PENDING", "RUNNING"):
        return
    if run.status == RunStatus.CANCELLING:
        # Only once Ray reports the job ended: a cancelled run has no job left running.
        await _finish(run, repo, RunStatus.CANCELLED)
    elif state.status == "SUCCEEDED":
        await _finish(run, repo, RunStatus.SUCCEEDED)  # the job normally marks this itself
    else:
        await _retry_or_dead_letter(run, settings, repo, state.message or state.status)


async def _retry_or_dead_letter(
    run: Run, settings: Settings, repo: RunRepository, error: str, *, attempts: int | None = None
) -> None:
    attempts = run.attempts if attempts is None else attempts
    message = f"attempt {attempts}: {error}"[:4000]
    if attempts >= run.max_attempts:
        await _finish(run, repo, RunStatus.DEAD_LETTERED, attempts=attempts, error=message)
        log.warning("run dead-lettered", extra={"run_id": str(run.id)})
        return
    delay = settings.runs.backoff_s * 2 ** (attempts - 1)
    await repo.transition(
        run,
        to=RunStatus.QUEUED,
        attempts=attempts,
        error=message,
        next_attempt_at=datetime.now(UTC) + timedelta(seconds=delay),
    )


async def _finish(run: Run, repo: RunRepository, status: RunStatus, **values: object) -> None:
    await repo.transition(run, to=status, finished_at=datetime.now(UTC), **values)
