"""Members of the caller's organization: request shapes, and the sync and async groups."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Final

from raylane.client._resources import (
    DEFAULT_PAGE_SIZE,
    UNSET,
    AsyncResource,
    Call,
    Collection,
    Ident,
    SyncResource,
    Unset,
    body,
)
from raylane.schemas.common import Page, RoleName
from raylane.schemas.tenancy import UserCreate, UserRead, UserUpdate

USERS: Final = Collection("/api/v1/users", UserRead)


class _Users:
    """The request shapes of ``/users`` that are more than a :class:`Collection` call;
    both resource groups below send them."""

    @staticmethod
    def create(email: str, name: str, role: RoleName) -> Call[UserRead]:
        """``POST /users``."""
        return USERS.create(body(UserCreate, email=email, name=name, role=role), UserRead)

    @staticmethod
    def update(
        user_id: Ident, name: str | Unset, role: RoleName | Unset, is_active: bool | Unset
    ) -> Call[UserRead]:
        """``PATCH /users/{id}`` with only the fields given."""
        return USERS.update(user_id, body(UserUpdate, name=name, role=role, is_active=is_active))


class Users(SyncResource):
    """Members of the caller's organization."""

    def create(self, *, email: str, name: str = "", role: RoleName = "developer") -> UserRead:
        """Add a user to the organization.

        Raises:
            Conflict: the email is already a member.
            ValidationError: the email or role is invalid.
        """
        return self._run(_Users.create(email, name, role))

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
        return self._run(_Users.update(user_id, name, role, is_active))

    def remove(self, user_id: Ident) -> None:
        """Remove a member from the organization and revoke their API keys.

        Raises:
            NotFound: no such member in the caller's organization.
            Conflict: the server refuses, e.g. removing the last owner.
        """
        self._run(USERS.delete(user_id))


class AsyncUsers(AsyncResource, twin=Users):
    async def create(self, *, email: str, name: str = "", role: RoleName = "developer") -> UserRead:
        return await self._run(_Users.create(email, name, role))

    async def list(self, *, limit: int | None = None, cursor: str | None = None) -> Page[UserRead]:
        return await self._run(USERS.list(limit=limit, cursor=cursor))

    def iter(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[UserRead]:
        return self._pages(lambda cursor: USERS.list(limit=page_size, cursor=cursor))

    async def get(self, user_id: Ident) -> UserRead:
        return await self._run(USERS.get(user_id))

    async def update(
        self,
        user_id: Ident,
        *,
        name: str | Unset = UNSET,
        role: RoleName | Unset = UNSET,
        is_active: bool | Unset = UNSET,
    ) -> UserRead:
        return await self._run(_Users.update(user_id, name, role, is_active))

    async def remove(self, user_id: Ident) -> None:
        await self._run(USERS.delete(user_id))
