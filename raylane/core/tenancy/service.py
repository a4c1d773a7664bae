"""Organization and member use cases. Services flush, never commit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.apikeys import service as apikeys
from raylane.core.apikeys.repository import ApiKeyRepository
from raylane.core.audit import audit_service
from raylane.core.rbac import Actor, Role, outranks
from raylane.core.tenancy.models import Membership, Organization
from raylane.core.tenancy.repository import (
    Member,
    MembershipRepository,
    OrganizationRepository,
    UserRepository,
)
from raylane.errors import Conflict, NotFound, PermissionDenied
from raylane.infra.db.paging import Page
from raylane.infra.db.session import acting_as, conflict_on_duplicate
from raylane.schemas.tenancy import OrganizationCreate, OrganizationUpdate, UserCreate, UserUpdate


async def provision(
    session: AsyncSession,
    *,
    actor: Actor | None,
    data: OrganizationCreate,
    region: str,
    key_ttl_days: int,
) -> tuple[Organization, uuid.UUID, str]:
    """Create an organization with its owner and the owner's first key (token returned once).

    Runs with platform reach (the caller's session is platform-scoped). Used by the API for
    platform administrators and by ``raylane up`` for the bootstrap organization.
    """
    org = Organization(name=data.name, slug=data.slug, region=data.region or region)
    async with conflict_on_duplicate(session, f"organization slug {data.slug!r}"):
        await OrganizationRepository(session).add(org)
    async with acting_as(session, org.id):
        owner_id = await UserRepository(session).ensure(org.id, data.owner_email, data.owner_name)
        await MembershipRepository(session).add(
            Membership(organization_id=org.id, user_id=owner_id, role=Role.OWNER.value)
        )
        key, token = await apikeys.issue(
            session,
            organization_id=org.id,
            user_id=owner_id,
            name="owner bootstrap key",
            scopes=["*"],
            expires_at=datetime.now(UTC) + timedelta(days=key_ttl_days),
        )
        await audit_service.log(
            session,
            None,
            "organization.create",
            target=org,
            organization_id=org.id,
            after={
                "name": org.name,
                "slug": org.slug,
                "owner": data.owner_email,
                "key": key.prefix,
            },
        )
    if actor is not None:
        await audit_service.log(
            session, actor, "organization.provision", target=org, after={"slug": org.slug}
        )
    return org, owner_id, token


class OrganizationService:
    async def get(self, session: AsyncSession, *, organization_id: uuid.UUID) -> Organization:
        org = await OrganizationRepository(session).get(organization_id)
        if org is None:
            raise NotFound("organization", organization_id)
        return org

    async def page(
        self, session: AsyncSession, *, limit: int, cursor: str | None
    ) -> Page[Organization]:
        return await OrganizationRepository(session).page(limit=limit, cursor=cursor)

    async def update(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        organization_id: uuid.UUID,
        data: OrganizationUpdate,
    ) -> Organization:
        """Rename the caller's own organization (a platform administrator: any organization).

        Raises:
            NotFound: any organization but the caller's.
        """
        if organization_id != actor.organization_id and not actor.is_platform_admin:
            raise NotFound("organization", organization_id)
        org = await self.get(session, organization_id=organization_id)
        before = {"name": org.name}
        org.name = data.name
        await OrganizationRepository(session).flush()
        await audit_service.log(
            session,
            actor,
            "organization.update",
            target=org,
            before=before,
            after={"name": org.name},
        )
        return org


class MemberService:
    async def get(self, session: AsyncSession, *, user_id: uuid.UUID) -> Member:
        member = await MembershipRepository(session).member(user_id)
        if member is None:
            raise NotFound("user", user_id)
        return member

    async def page(self, session: AsyncSession, *, limit: int, cursor: str | None) -> Page[Member]:
        return await MembershipRepository(session).members(limit=limit, cursor=cursor)

    async def create(self, session: AsyncSession, *, actor: Actor, data: UserCreate) -> Member:
        """Add a person to the caller's organization with a role.

        The person gets an identity of this organization only: an account with the same email
        in another organization is neither found nor touched nor revealed.

        Raises:
            PermissionDenied: granting a role above the caller's own.
            Conflict: the person is already a member.
        """
        self._may_grant(actor, Role(data.role))
        user_id = await UserRepository(session).ensure(
            actor.organization_id, str(data.email), data.name
        )
        if await MembershipRepository(session).get_by_user(user_id) is not None:
            raise Conflict(f"{data.email} is already a member")
        await MembershipRepository(session).add(
            Membership(organization_id=actor.organization_id, user_id=user_id, role=data.role)
        )
        await audit_service.log(
            session,
            actor,
            "user.create",
            target=("user", user_id),
            after={"email": str(data.email), "role": data.role},
        )
        return await self.get(session, user_id=user_id)

    async def update(
        self, session: AsyncSession, *, actor: Actor, user_id: uuid.UUID, data: UserUpdate
    ) -> Member:
        """Change a member's role, name or active flag.

        Raises:
            NotFound: not a member of the caller's organization.
            PermissionDenied: the member or the new role outranks the caller.
            Conflict: the change would leave the organization without an active owner.
        """
        membership = await self._membership(session, user_id)
        self._may_grant(actor, Role(membership.role))
        before = {"role": membership.role, "is_active": membership.is_active}
        if data.role is not None:
            self._may_grant(actor, Role(data.role))
        losing_owner = membership.role == Role.OWNER and (
            (data.role not in (None, Role.OWNER)) or data.is_active is False
        )
        if losing_owner:
            await self._keep_an_owner(session)
        if data.role is not None:
            membership.role = data.role
        if data.is_active is not None:
            membership.is_active = data.is_active
        if data.name is not None:
            user = await UserRepository(session).get(user_id)
            if user is not None:
                before["name"], user.name = user.name, data.name
        await MembershipRepository(session).flush()
        after = {"role": membership.role, "is_active": membership.is_active}
        await audit_service.log(
            session,
            actor,
            "user.update",
            target=("user", user_id),
            before=before,
            after=after | ({"name": data.name} if data.name is not None else {}),
        )
        return await self.get(session, user_id=user_id)

    async def remove(self, session: AsyncSession, *, actor: Actor, user_id: uuid.UUID) -> None:
        """Remove a member from the organization and revoke their keys here."""
        membership = await self._membership(session, user_id)
        self._may_grant(actor, Role(membership.role))
        if membership.role == Role.OWNER:
            await self._keep_an_owner(session)
        revoked = await ApiKeyRepository(session).revoke_for_user(user_id)
        await MembershipRepository(session).delete(membership)
        await audit_service.log(
            session,
            actor,
            "user.remove",
            target=("user", user_id),
            before={"role": membership.role},
            after={"revoked_keys": revoked},
        )

    async def _membership(self, session: AsyncSession, user_id: uuid.UUID) -> Membership:
        membership = await MembershipRepository(session).get_by_user(user_id)
        if membership is None:
            raise NotFound("user", user_id)
        return membership

    @staticmethod
    def _may_grant(actor: Actor, role: Role) -> None:
        if not outranks(actor.role, role):
            raise PermissionDenied(f"a {actor.role.value} cannot manage the {role.value} role")

    @staticmethod
    async def _keep_an_owner(session: AsyncSession) -> None:
        if await MembershipRepository(session).count_owners() <= 1:
            raise Conflict("an organization must keep at least one active owner")


organization_service = OrganizationService()
member_service = MemberService()
