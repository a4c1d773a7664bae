"""All SQL for organizations, users and memberships."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import insert

from raylane.core.tenancy.models import Membership, Organization, User
from raylane.infra.db.paging import Page, keyset_page
from raylane.infra.db.repository import Repository
from raylane.infra.ids import uuid7


@dataclass(frozen=True)
class Member:
    """A user as seen from one organization: identity plus membership."""

    id: uuid.UUID
    email: str
    name: str
    role: str
    is_active: bool
    created_at: datetime


class OrganizationRepository(Repository[Organization]):
    model = Organization

    async def by_slug(self, slug: str) -> Organization | None:
        stmt = select(Organization).where(Organization.slug == slug)
        return (await self._session.scalars(stmt)).first()


class UserRepository(Repository[User]):
    model = User

    async def ensure(self, organization_id: uuid.UUID, email: str, name: str) -> uuid.UUID:
        """The id of this organization's identity for ``email``, created if new.

        Only the current organization's rows are visible (row-level security), so an identity
        of another organization is never found, adopted or revealed.
        """
        stmt = (
            insert(User)
            .values(id=uuid7(), organization_id=organization_id, email=email.lower(), name=name)
            .on_conflict_do_nothing(index_elements=["organization_id", "email"])
            .returning(User.id)
        )
        created = (await self._session.execute(stmt)).scalar_one_or_none()
        if created is not None:
            return created
        found = select(User.id).where(User.email == email.lower())
        return (await self._session.execute(found)).scalar_one()


class MembershipRepository(Repository[Membership]):
    model = Membership

    def _members(self) -> Select[uuid.UUID, str, str, str, bool, datetime]:
        return select(
            User.id,
            User.email,
            User.name,
            Membership.role,
            Membership.is_active,
            Membership.created_at,
        ).join(Membership, Membership.user_id == User.id)

    async def get_by_user(self, user_id: uuid.UUID) -> Membership | None:
        stmt = select(Membership).where(Membership.user_id == user_id)
        return (await self._session.scalars(stmt)).first()

    async def member(self, user_id: uuid.UUID) -> Member | None:
        row = (await self._session.execute(self._members().where(User.id == user_id))).first()
        return Member(*row) if row else None

    async def members(self, *, limit: int, cursor: str | None) -> Page[Member]:
        return await keyset_page(
            self._session, self._members(), User.id, limit=limit, cursor=cursor, row=Member
        )

    async def count_owners(self) -> int:
        stmt = select(func.count(Membership.id)).where(
            Membership.role == "owner", Membership.is_active.is_(True)
        )
        return int((await self._session.scalar(stmt)) or 0)
