"""Organizations (tenants): request shapes, and the sync and async resource groups."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Final

from raylane.client._resources import (
    DEFAULT_PAGE_SIZE,
    AsyncResource,
    Call,
    Collection,
    Ident,
    SyncResource,
    body,
)
from raylane.schemas.common import Page
from raylane.schemas.tenancy import (
    OrganizationCreate,
    OrganizationCreated,
    OrganizationRead,
    OrganizationUpdate,
)

ORGANIZATIONS: Final = Collection("/api/v1/organizations", OrganizationRead)


class _Organizations:
    """The request shapes of ``/organizations`` that are more than a :class:`Collection` call;
    both resource groups below send them."""

    @staticmethod
    def create(
        name: str, slug: str, owner_email: str, owner_name: str, region: str | None
    ) -> Call[OrganizationCreated]:
        """``POST /organizations``; the answer carries the owner's first key."""
        data = body(
            OrganizationCreate,
            name=name,
            slug=slug,
            owner_email=owner_email,
            owner_name=owner_name,
            region=region,
        )
        return ORGANIZATIONS.create(data, OrganizationCreated)

    @staticmethod
    def update(organization_id: Ident, name: str) -> Call[OrganizationRead]:
        """``PATCH /organizations/{id}``."""
        return ORGANIZATIONS.update(organization_id, body(OrganizationUpdate, name=name))


class Organizations(SyncResource):
    """Organizations (tenants). Creating one needs a platform-admin key."""

    def create(
        self,
        *,
        name: str,
        slug: str,
        owner_email: str,
        owner_name: str = "",
        region: str | None = None,
    ) -> OrganizationCreated:
        """Create an organization with its owner and the owner's first API key.

        Returns:
            The organization, the owner's user id and API key (shown this once).

        Raises:
            PermissionDenied: the caller is not a platform admin.
            Conflict: the slug is taken.
            ValidationError: a field is malformed (e.g. the slug or the email).
        """
        return self._run(_Organizations.create(name, slug, owner_email, owner_name, region))

    def list(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[OrganizationRead]:
        """One page of the organizations the caller can see; pass ``next_cursor`` on."""
        return self._run(ORGANIZATIONS.list(limit=limit, cursor=cursor))

    def iter(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[OrganizationRead]:
        """Every visible organization, fetching pages of ``page_size`` as needed."""
        return self._pages(lambda cursor: ORGANIZATIONS.list(limit=page_size, cursor=cursor))

    def get(self, organization_id: Ident) -> OrganizationRead:
        """Get one organization.

        Raises:
            NotFound: it does not exist or is not visible to the caller.
        """
        return self._run(ORGANIZATIONS.get(organization_id))

    def update(self, organization_id: Ident, *, name: str) -> OrganizationRead:
        """Rename an organization.

        Raises:
            NotFound: it does not exist or is not visible to the caller.
            ValidationError: the name is empty or too long.
        """
        return self._run(_Organizations.update(organization_id, name))


class AsyncOrganizations(AsyncResource, twin=Organizations):
    async def create(
        self,
        *,
        name: str,
        slug: str,
        owner_email: str,
        owner_name: str = "",
        region: str | None = None,
    ) -> OrganizationCreated:
        return await self._run(_Organizations.create(name, slug, owner_email, owner_name, region))

    async def list(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[OrganizationRead]:
        return await self._run(ORGANIZATIONS.list(limit=limit, cursor=cursor))

    def iter(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[OrganizationRead]:
        return self._pages(lambda cursor: ORGANIZATIONS.list(limit=page_size, cursor=cursor))

    async def get(self, organization_id: Ident) -> OrganizationRead:
        return await self._run(ORGANIZATIONS.get(organization_id))

    async def update(self, organization_id: Ident, *, name: str) -> OrganizationRead:
        return await self._run(_Organizations.update(organization_id, name))
