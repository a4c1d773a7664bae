"""Blocking resource groups for tenancy: organizations, users and API keys."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from raylane.client._resources import (
    API_KEYS,
    DEFAULT_PAGE_SIZE,
    ORGANIZATIONS,
    UNSET,
    USERS,
    Ident,
    SyncResource,
    Unset,
    body,
)
from raylane.schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from raylane.schemas.common import Page, RoleName
from raylane.schemas.tenancy import (
    OrganizationCreate,
    OrganizationCreated,
    OrganizationRead,
    OrganizationUpdate,
    UserCreate,
    UserRead,
    UserUpdate,
)


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
        data = body(
            OrganizationCreate,
            name=name,
            slug=slug,
            owner_email=owner_email,
            owner_name=owner_name,
            region=region,
        )
        return self._run(ORGANIZATIONS.create(data, OrganizationCreated))

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
        return self._run(ORGANIZATIONS.update(organization_id, body(OrganizationUpdate, name=name)))


class Users(SyncResource):
    """Members of the caller's organization."""

    def create(self, *, email: str, name: str = "", role: RoleName = "developer") -> UserRead:
        """Add a user to the organization.

        Raises:
            Conflict: the email is already a member.
            ValidationError: the email or role is invalid.
        """
        return self._run(
            USERS.create(body(UserCreate, email=email, name=name, role=role), UserRead)
        )

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> Page[UserRead]:
        """One page of members; pass ``next_cursor`` on."""
        return self._run(USERS.list(limit=limit, cursor=cursor))

    def iter(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[UserRead]:
        """Every member, fetching pages of ``page_size`` as needed."""
        return self._pages(lambda cursor: USERS.list(limit=page_size, cursor=cursor))

    def get(self, user_id: Ident) -> UserRead:
        """Get one member.

        Raises:
            NotFound: no such member in the caller's organization.
        """
        return self._run(USERS.get(user_id))

    def update(
        self,
        user_id: Ident,
        *,
        name: str | Unset = UNSET,
        role: RoleName | Unset = UNSET,
        is_active: bool | Unset = UNSET,
    ) -> UserRead:
        """Change a member's name, role or active flag; fields left out stay as they are.

        Raises:
            NotFound: no such member in the caller's organization.
            ValidationError: the role is unknown.
        """
        data = body(UserUpdate, name=name, role=role, is_active=is_active)
        return self._run(USERS.update(user_id, data))

    def remove(self, user_id: Ident) -> None:
        """Remove a member from the organization and revoke their API keys.

        Raises:
            NotFound: no such member in the caller's organization.
            Conflict: the server refuses, e.g. removing the last owner.
        """
        self._run(USERS.delete(user_id))


class ApiKeys(SyncResource):
    """API keys of the caller's organization."""

    def create(
        self,
        *,
        name: str,
        scopes: Sequence[str] = ("*",),
        expires_in_days: int | None = None,
        user_id: Ident | None = None,
    ) -> ApiKeyCreated:
        """Create a key; its ``secret`` is in this answer only and cannot be fetched again.

        Args:
            name: A label for the key.
            scopes: Permissions the key is limited to (``"*"``: all of its user's).
            expires_in_days: Lifetime in days; None for the server's default.
            user_id: Whose key it is; None for the caller.

        Raises:
            ValidationError: a field is out of range.
            NotFound: ``user_id`` is not a member.
        """
        data = body(
            ApiKeyCreate,
            name=name,
            scopes=list(scopes),
            expires_in_days=expires_in_days,
            user_id=user_id,
        )
        return self._run(API_KEYS.create(data, ApiKeyCreated))

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> Page[ApiKeyRead]:
        """One page of keys (never their secrets); pass ``next_cursor`` on."""
        return self._run(API_KEYS.list(limit=limit, cursor=cursor))

    def iter(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[ApiKeyRead]:
        """Every key, fetching pages of ``page_size`` as needed."""
        return self._pages(lambda cursor: API_KEYS.list(limit=page_size, cursor=cursor))

    def get(self, key_id: Ident) -> ApiKeyRead:
        """Get one key's metadata.

        Raises:
            NotFound: no such key in the caller's organization.
        """
        return self._run(API_KEYS.get(key_id))

    def revoke(self, key_id: Ident) -> ApiKeyRead:
        """Revoke a key; it fails from the next request on.

        Returns:
            The key with ``revoked_at`` set.

        Raises:
            NotFound: no such key in the caller's organization.
        """
        return self._run(API_KEYS.delete_returning(key_id))
