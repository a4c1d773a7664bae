from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from raylane.core.observability.service import observability_service
from raylane.core.rbac import Permission
from raylane.serve.deps import ActorDep, PlatformDep, ReadSessionDep, require
from raylane.serve.routing import Route
from raylane.serve.stats import REQUEST_STATS

router = APIRouter(prefix="/api/v1", tags=["operations"], route_class=Route)


@router.get("/observability", dependencies=[require(Permission.OBSERVABILITY_READ)])
async def get_observability(
    session: ReadSessionDep, actor: ActorDep, platform: PlatformDep
) -> dict[str, Any]:
    """Runs by status (with Ray dashboard links), recent HTTP error rate and latency
    percentiles, token usage, and the Ray cluster's resources used and available."""
    return await observability_service.summary(
        session,
        actor=actor,
        settings=platform.settings,
        quota=platform.quota,
        http=REQUEST_STATS.summary(str(actor.organization_id)),
    )
