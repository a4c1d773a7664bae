"""Organization and member use cases called directly: provisioning, roles, the last owner."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from raylane.core.apikeys.repository import ApiKeyRepository
from raylane.core.audit.repository import AuditRepository
from raylane.core.rbac import ROLE_PERMISSIONS, Actor, Role
from raylane.core.tenancy.service import member_service, organization_service
from raylane.errors import Conflict, NotFound, PermissionDenied
from raylane.schemas.tenancy import OrganizationUpdate, UserCreate, UserUpdate
from tests.integration.services.conftest import Scope


def as_role(actor: Actor, user_id: uuid.UUID, role: Role) -> Actor:
    return Actor(
        organization_id=actor.organization_id,
        user_id=user_id,
        role=role,
        permissions=ROLE_PERMISSIONS[role],
    )


async def test_provision_makes_an_owner_with_one_key_and_an_audit_row(
    tenant: Actor, scoped: Scope
) -> None:
    async with scoped(tenant) as session:
        member = await member_service.get(session, user_id=tenant.user_id)
        keys = await ApiKeyRepository(session).page(limit=10, cursor=None)
        chain = [e async for e in AuditRepository(session).chain()]
    assert (member.role, member.is_active) == ("owner", True)
    assert [(k.user_id, k.scopes) for k in keys.items] == [(tenant.user_id, ["*"])]
    assert [(e.action, e.target_type, e.actor_type) for e in chain] == [
        ("organization.create", "organization", "system")
    ]


async def test_rename_own_organization_only(
    tenant: Actor, other_tenant: Actor, scoped: Scope
) -> None:
    async with scoped(tenant) as session:
        org = await organization_service.update(
            session,
            actor=tenant,
            organization_id=tenant.organization_id,
            data=OrganizationUpdate(name="Renamed"),
        )
        assert org.name == "Renamed"
        with pytest.raises(NotFound):
            await organization_service.update(
                session,
                actor=tenant,
                organization_id=other_tenant.organization_id,
                data=OrganizationUpdate(name="Hijacked"),
            )
    async with scoped(other_tenant) as session:
        other = await organization_service.get(
            session, organization_id=other_tenant.organization_id
        )
    assert other.name != "Hijacked"


async def test_members_roles_and_the_last_owner(
    tenant: Actor, scoped: Scope, services: Any
) -> None:
    async with scoped(tenant) as session:
        admin = await member_service.create(
            session, actor=tenant, data=UserCreate(email="ada@example.com", role="admin")
        )
        with pytest.raises(Conflict):
            await member_service.create(
                session, actor=tenant, data=UserCreate(email="ADA@example.com", role="viewer")
            )
    as_admin = as_role(tenant, admin.id, Role.ADMIN)
    async with scoped(tenant) as session:
        # An admin may not grant a role above its own, nor touch the owner.
        with pytest.raises(PermissionDenied):
            await member_service.create(
                session, actor=as_admin, data=UserCreate(email="eve@example.com", role="owner")
            )
        with pytest.raises(PermissionDenied):
            await member_service.update(
                session, actor=as_admin, user_id=tenant.user_id, data=UserUpdate(role="viewer")
            )
        # The only owner cannot step down or leave.
        with pytest.raises(Conflict, match="owner"):
            await member_service.update(
                session, actor=tenant, user_id=tenant.user_id, data=UserUpdate(role="admin")
            )
        with pytest.raises(Conflict, match="owner"):
            await member_service.remove(session, actor=tenant, user_id=tenant.user_id)
    async with scoped(tenant) as session:
        await member_service.remove(session, actor=tenant, user_id=admin.id)
    async with scoped(tenant) as session:
        with pytest.raises(NotFound):
            await member_service.get(session, user_id=admin.id)
        members = await member_service.page(session, limit=10, cursor=None)
        removed = await AuditRepository(session).events(limit=1, cursor=None, action="user.remove")
    assert [m.id for m in members.items] == [tenant.user_id]
    assert removed.items[0].target_id == str(admin.id)
    assert removed.items[0].summary == {"before": {"role": "admin"}, "after": {"revoked_keys": 0}}
