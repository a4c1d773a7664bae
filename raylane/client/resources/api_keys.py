"""API keys of the caller's organization: request shapes, and the sync and async groups."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
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
from raylane.schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from raylane.schemas.common import Page

API_KEYS: Final = Collection("/api/v1/api-keys", ApiKeyRead)


class _ApiKeys:
    """The request shapes of ``/api-keys`` that are more than a :class:`Collection` call;
    both resource groups below send them."""

    @staticmethod
    def create(
        name: str, scopes: Sequence[str], expires_in_days: int | None, user_id: Ident | None
    ) -> Call[ApiKeyCreated]:
        """``POST /api-keys``; the answer is the only one that carries the secret."""
        data = body(
            ApiKeyCreate,
            name=name,
            scopes=list(scopes),
            expires_in_days=expires_in_days,
            user_id=user_id,
        )
        return API_KEYS.create(data, ApiKeyCreated)


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
        return self._run(_ApiKeys.create(name, scopes, expires_in_days, user_id))

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


class AsyncApiKeys(AsyncResource, twin=ApiKeys):
    async def create(
        self,
        *,
        name: str,
        scopes: Sequence[str] = ("*",),
        expires_in_days: int | None = None,
        user_id: Ident | None = None,
    ) -> ApiKeyCreated:
        return await self._run(_ApiKeys.create(name, scopes, expires_in_days, user_id))

    async def list(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[ApiKeyRead]:
        return await self._run(API_KEYS.list(limit=limit, cursor=cursor))

    def iter(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[ApiKeyRead]:
        return self._pages(lambda cursor: API_KEYS.list(limit=page_size, cursor=cursor))

    async def get(self, key_id: Ident) -> ApiKeyRead:
        return await self._run(API_KEYS.get(key_id))

    async def revoke(self, key_id: Ident) -> ApiKeyRead:
        return await self._run(API_KEYS.delete_returning(key_id))
