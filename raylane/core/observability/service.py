"""Per-organization operational summary: runs, HTTP health, tokens, and the Ray cluster."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.config import Settings
from raylane.core.quotas.repository import UsageRepository
from raylane.core.quotas.service import TokenQuota
from raylane.core.rbac import Actor
from raylane.core.runs.repository import RunRepository
from raylane.infra import compute

RECENT_RUNS = 20


class ObservabilityService:
    async def summary(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        settings: Settings,
        quota: TokenQuota,
        http: dict[str, Any],
    ) -> dict[str, Any]:
        """Everything an operator of this organization looks at first, in one read.

        ``http`` is the serving replica's recent request statistics for the organization.
        """
        runs = RunRepository(session)
        by_status = await runs.by_status()
        ended_badly = ("failed", "dead_lettered")
        finished = [n for _, s, n in by_status if s == "succeeded" or s in ended_badly]
        failed = sum(n for _, s, n in by_status if s in ended_badly)
        recent = await runs.recent(limit=RECENT_RUNS)
        today = await UsageRepository(session).recent(days=1)
        resources = await asyncio.to_thread(compute.cluster_resources)
        return {
            "organization_id": actor.organization_id,
            "region": settings.region,
            "runs": {
                "by_status": [{"kind": k, "status": s, "count": n} for k, s, n in by_status],
                "failure_rate": (failed / sum(finished)) if sum(finished) else 0.0,
                "recent": [
                    {
                        "id": r.id,
                        "kind": r.kind,
                        "status": r.status,
                        "ray_job_id": r.ray_job_id,
                        "dashboard_url": compute.job_dashboard_link(settings, r.ray_job_id)
                        if r.ray_job_id
                        else None,
                    }
                    for r in recent
                ],
            },
            "http": http,
            "tokens": {
                "daily_quota": quota.daily_tokens,
                "used_today": await quota.used(actor.organization_id),
                "input_today": today[0].input_tokens if today else 0,
                "output_today": today[0].output_tokens if today else 0,
            },
            "ray": {
                "connected": resources is not None,
                "resources": resources or {},
                "dashboard_url": compute.job_dashboard_link(settings, "").rsplit("/#", 1)[0],
            },
        }


observability_service = ObservabilityService()
