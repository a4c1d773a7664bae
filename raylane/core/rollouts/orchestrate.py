"""The rollout orchestrator's pass: analyse each running rollout whose window is up, then advance,
promote, count a failure or roll back.

A rollout's state is its row. Each pass lists running rollouts across tenants
(``raylane_rollouts_due``, ids only), then handles each in its organization's transaction with
the row locked (SKIP LOCKED: two orchestrators, or one racing a person's pause, never handle the
same rollout at once) and every write conditional on the status and step it read. The step
moves only together with the analysis that passed it, in one commit, so an orchestrator killed
at any point leaves either the step before (analysed again by the next one) or the step after
(with its analysis in ``history``): no step is repeated or skipped.

When an analysis is due: the current window starts at the latest of the step's start, its
previous analysis and a resume (all in ``history``) and lasts ``interval_s``. If the policy has
a suite, the step's agent-test run must have ended: while it runs the analysis waits; a run that
failed, was dead-lettered or cancelled is a failed analysis. Verdicts:

* pass: the next step (its weight set, its window and its test run started), or after the last
  step (100%) the canary is promoted;
* fail: ``failed_analyses`` + 1; at ``max_failed_analyses`` the canary is rolled back (weight 0,
  canary cleared, the stable and its alias untouched);
* inconclusive (too few canary requests): neither; a new window starts. ``NO_TRAFFIC_WINDOWS``
  inconclusive windows in a row at one step count as one failed analysis, so a canary that
  gets no traffic cannot hold a rollout forever.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession

from raylane.config import Settings
from raylane.core.agenttests.service import agent_test_service
from raylane.core.endpoints import stats
from raylane.core.endpoints.service import endpoint_service
from raylane.core.rollouts.analysis import Analysis, analyze
from raylane.core.rollouts.models import Rollout, RolloutStatus
from raylane.core.rollouts.repository import RolloutRepository
from raylane.core.rollouts.service import acting_for, rollout_service
from raylane.core.runs.models import ACTIVE as RUN_ACTIVE
from raylane.core.runs.models import RunStatus
from raylane.infra import kv as kv_adapter
from raylane.infra.db.session import session_scope
from raylane.schemas.rollouts import RolloutPolicy

log = logging.getLogger(__name__)

NO_TRAFFIC_WINDOWS = 3
MAX_WINDOW = timedelta(hours=36)
# History events that start a new analysis window at the current step.
_WINDOW_STARTS = frozenset({"step", "analysis", "resumed"})


def window_start(rollout: Rollout) -> datetime:
    """When the current analysis window began: the step's start, its last analysis or the
    last resume, whichever is latest."""
    start = rollout.step_started_at or rollout.created_at
    for entry in rollout.history:
        if entry.get("step") == rollout.step and entry.get("event") in _WINDOW_STARTS:
            at = datetime.fromisoformat(entry["at"])
            start = max(start, at)
    return start


def inconclusive_streak(rollout: Rollout) -> int:
    """Inconclusive analyses in a row at the current step, counted back from the last one (a
    resume starts the count again)."""
    streak = 0
    for entry in reversed(rollout.history):
        if entry.get("step") != rollout.step or entry.get("event") in ("step", "resumed"):
            break
        if entry.get("event") == "analysis":
            if entry.get("verdict") != "inconclusive":
                break
            streak += 1
    return streak


async def tick(
    settings: Settings,
    *,
    now: datetime | None = None,
    kv: aioredis.Redis | None = None,
    limit: int = 100,
) -> int:
    """One pass over running rollouts; returns how many were analysed.

    Args:
        settings: the platform's settings (where Redis is when ``kv`` is not given).
        now: the clock (tests drive it); the current time when None.
        kv: the Redis client the routers record into; one is made for this pass when None.
        limit: at most this many rollouts per pass.
    """
    now = now or datetime.now(UTC)
    own = kv is None
    client = kv if kv is not None else kv_adapter.async_client(kv_adapter.redis_url(settings))
    analysed = 0
    try:
        async with session_scope() as session:
            due = await RolloutRepository(session).due(limit=limit)
        for rollout_id, organization_id in due:
            try:
                async with session_scope(organization_id=organization_id) as session:
                    rollout = await RolloutRepository(session).lock(rollout_id)
                    if rollout is not None and rollout.status == RolloutStatus.RUNNING:
                        analysed += await _step(session, rollout, client, now)
            except Exception:  # one bad rollout must not stall the others
                log.exception("rollout pass failed", extra={"rollout_id": str(rollout_id)})
    finally:
        if own:
            await client.aclose()
    return analysed


async def _suite(
    session: AsyncSession, rollout: Rollout
) -> tuple[bool, float | None, dict[str, Any], list[str]]:
    """(ready, score, figures, reasons) of the step's test run: not ready while it runs."""
    if rollout.test_run_id is None:
        return True, None, {}, ["the step's agent-test run was not started"]
    run = await agent_test_service.get_run(session, run_id=rollout.test_run_id)
    figures = {"test_run_id": str(run.id), "test_run_status": run.status}
    if run.status in RUN_ACTIVE:
        return False, None, figures, []
    if run.status != RunStatus.SUCCEEDED:
        return True, None, figures, [f"agent-test run {run.id} ended {run.status}"]
    score = (run.result or {}).get("score")
    return True, None if score is None else float(score), figures, []


async def _step(session: AsyncSession, rollout: Rollout, kv: aioredis.Redis, now: datetime) -> int:
    policy = RolloutPolicy.model_validate(rollout.policy)
    start = window_start(rollout)
    if (now - start).total_seconds() < policy.interval_s:
        return 0
    # Per-version counts are kept two days: a longer window (a test run that waited that long)
    # looks at the latest part.
    start = max(start, now - MAX_WINDOW)
    score: float | None = None
    suite_figures: dict[str, Any] = {}
    run_reasons: list[str] = []
    if policy.suite is not None:
        ready, score, suite_figures, run_reasons = await _suite(session, rollout)
        if not ready:
            return 0  # the analysis waits for the step's test run (its window grows meanwhile)
    endpoint_key = str(rollout.endpoint_id)
    window = {"start": start.timestamp(), "end": now.timestamp()}
    stable = await stats.window(
        kv, endpoint_id=endpoint_key, version=rollout.stable_label, **window
    )
    canary = await stats.window(
        kv, endpoint_id=endpoint_key, version=rollout.canary_label, **window
    )
    result = analyze(policy, stable, canary, score)
    figures = {
        **result.figures,
        "window": {"start": start.isoformat(), "end": now.isoformat()},
        "weight": policy.steps[rollout.step],
    }
    if suite_figures:
        figures["suite"] = {**figures.get("suite", {}), **suite_figures}
    reasons = [*run_reasons, *result.reasons]
    verdict = "fail" if run_reasons else result.verdict
    if verdict == "inconclusive" and inconclusive_streak(rollout) + 1 >= NO_TRAFFIC_WINDOWS:
        verdict = "fail"
        reasons.append(f"{NO_TRAFFIC_WINDOWS} windows in a row without enough canary traffic")
    await _apply(session, rollout, policy, Analysis(verdict, reasons, figures), now)
    return 1


async def _apply(
    session: AsyncSession,
    rollout: Rollout,
    policy: RolloutPolicy,
    analysis: Analysis,
    now: datetime,
) -> None:
    step = rollout.step
    entry = {
        "verdict": analysis.verdict,
        "reasons": analysis.reasons,
        "figures": analysis.figures,
        "weight": policy.steps[step],
    }
    if analysis.verdict == "fail":
        failed = rollout.failed_analyses + 1
        await rollout_service.move(
            session,
            rollout,
            actor=None,
            name="analysis",
            now=now,
            entry=entry,
            failed_analyses=failed,
        )
        if failed >= policy.max_failed_analyses:
            await rollout_service.finish_back(
                session,
                rollout,
                actor=None,
                status=RolloutStatus.ROLLED_BACK,
                reason="; ".join(analysis.reasons) or "analysis failed",
                reasons=analysis.reasons,
                figures={**analysis.figures, "failed_analyses": failed},
                now=now,
            )
            log.warning("rollout rolled back", extra={"rollout_id": str(rollout.id)})
        return
    if analysis.verdict == "inconclusive":
        await rollout_service.move(
            session, rollout, actor=None, name="analysis", now=now, entry=entry
        )
        return
    await rollout_service.move(session, rollout, actor=None, name="analysis", now=now, entry=entry)
    if step + 1 >= len(policy.steps):
        await rollout_service.finish_promoted(
            session, rollout, actor=None, figures=analysis.figures, now=now
        )
        return
    weight = policy.steps[step + 1]
    endpoint = await endpoint_service.get(session, endpoint_id=rollout.endpoint_id)
    test_run_id: uuid.UUID | None = None
    if policy.suite is not None:
        test_run_id = await rollout_service.start_suite(
            session, actor=acting_for(rollout), rollout=rollout, endpoint=endpoint, step=step + 1
        )
    await endpoint_service.set_split(
        session,
        actor=None,
        endpoint=endpoint,
        canary_ref=rollout.canary_ref,
        canary_label=rollout.canary_label,
        weight=weight,
        reason={"rollout_id": str(rollout.id), "event": "step", "step": step + 1},
    )
    await rollout_service.move(
        session,
        rollout,
        actor=None,
        name="step",
        now=now,
        entry={"weight": weight},
        step=step + 1,
        step_started_at=now,
        test_run_id=test_run_id,
    )
