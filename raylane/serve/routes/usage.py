"""The organization's token usage per day and today's quota."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from raylane.core.quotas.service import usage_report
from raylane.core.rbac import Permission
from raylane.schemas.copilot import UsageRead
from raylane.serve.deps import ActorDep, PlatformDep, SessionDep, require
from raylane.serve.routing import Route

router = APIRouter(prefix="/api/v1", tags=["copilot"], route_class=Route)


@router.get("/usage", dependencies=[require(Permission.USAGE_READ)])
async def get_usage(
    session: SessionDep,
    actor: ActorDep,
    platform: PlatformDep,
    days: Annotated[int, Query(ge=1, le=90)] = 7,
) -> UsageRead:
    """Tokens and requests per day, and today's quota."""
    report = await usage_report(
        session, quota=platform.quota, organization_id=actor.organization_id, days=days
    )
    return UsageRead.model_validate(report, from_attributes=True)
