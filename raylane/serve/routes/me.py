from __future__ import annotations

from fastapi import APIRouter

from raylane.core.tenancy.service import member_service, organization_service
from raylane.infra import compute
from raylane.schemas.tenancy import MeRead, OrganizationRead
from raylane.serve.deps import ActorDep, PlatformDep, SessionDep
from raylane.serve.routing import Route

router = APIRouter(prefix="/api/v1", tags=["identity"], route_class=Route)


@router.get("/me")
async def get_me(session: SessionDep, actor: ActorDep, platform: PlatformDep) -> MeRead:
    """Who the API key acts as: user, organization, role and effective permissions, and where
    the Ray dashboard is (the console links each run's job there)."""
    member = await member_service.get(session, user_id=actor.user_id)
    org = await organization_service.get(session, organization_id=actor.organization_id)
    return MeRead(
        user_id=member.id,
        email=member.email,
        name=member.name,
        organization=OrganizationRead.model_validate(org),
        role=actor.role.value,
        permissions=sorted(p.value for p in actor.permissions),
        api_key_id=actor.api_key_id,
        is_platform_admin=actor.is_platform_admin,
        ray_dashboard_url=compute.job_dashboard_link(platform.settings, "").rsplit("/#", 1)[0],
    )
