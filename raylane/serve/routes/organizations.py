from __future__ import annotations

import uuid

from fastapi import APIRouter

from raylane.core.rbac import Permission
from raylane.core.tenancy.service import organization_service, provision
from raylane.schemas.common import Page
from raylane.schemas.tenancy import (
    OrganizationCreate,
    OrganizationCreated,
    OrganizationRead,
    OrganizationUpdate,
)
from raylane.serve.deps import ActorDep, PageDep, PlatformDep, SessionDep, page_of, require
from raylane.serve.routing import Route

router = APIRouter(prefix="/api/v1/organizations", tags=["organizations"], route_class=Route)


@router.post("", status_code=201, dependencies=[require(Permission.ORG_CREATE)])
async def create_organization(
    data: OrganizationCreate, session: SessionDep, actor: ActorDep, platform: PlatformDep
) -> OrganizationCreated:
    """Provision a tenant with its owner; the owner's first API key is returned once."""
    org, owner_id, token = await provision(
        session,
        actor=actor,
        data=data,
        region=platform.settings.region,
        key_ttl_days=platform.settings.api_key_ttl_days,
    )
    return OrganizationCreated(
        organization=OrganizationRead.model_validate(org),
        owner_user_id=owner_id,
        owner_api_key=token,
    )


@router.get("", dependencies=[require(Permission.ORG_READ)])
async def list_organizations(session: SessionDep, page: PageDep) -> Page[OrganizationRead]:
    """The caller's organization (every organization, for platform administrators)."""
    result = await organization_service.page(session, limit=page.limit, cursor=page.cursor)
    return page_of(result, OrganizationRead)  # type: ignore[no-any-return]


@router.get("/{organization_id}", dependencies=[require(Permission.ORG_READ)])
async def get_organization(organization_id: uuid.UUID, session: SessionDep) -> OrganizationRead:
    org = await organization_service.get(session, organization_id=organization_id)
    return OrganizationRead.model_validate(org)


@router.patch("/{organization_id}", dependencies=[require(Permission.ORG_UPDATE)])
async def update_organization(
    organization_id: uuid.UUID, data: OrganizationUpdate, session: SessionDep, actor: ActorDep
) -> OrganizationRead:
    org = await organization_service.update(
        session, actor=actor, organization_id=organization_id, data=data
    )
    return OrganizationRead.model_validate(org)
