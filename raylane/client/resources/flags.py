"""Feature flags of the caller's organization, addressed by key: request shapes, and the sync
and async groups."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Final

from raylane.client._resources import (
    DEFAULT_PAGE_SIZE,
    AsyncResource,
    Call,
    Collection,
    SyncResource,
    body,
)
from raylane.schemas.common import Page
from raylane.schemas.flags import FeatureFlagRead, FeatureFlagUpsert

FEATURE_FLAGS: Final = Collection("/api/v1/feature-flags", FeatureFlagRead)


class _FeatureFlags:
    """The request shapes of ``/feature-flags`` that are more than a :class:`Collection` call;
    both resource groups below send them."""

    @staticmethod
    def put(key: str, enabled: bool, value: Any, description: str | None) -> Call[FeatureFlagRead]:
        """``PUT /feature-flags/{key}``: create or replace."""
        data = body(FeatureFlagUpsert, enabled=enabled, value=value, description=description)
        return FEATURE_FLAGS.put(key, data)


class FeatureFlags(SyncResource):
    """Feature flags of the caller's organization, addressed by key."""

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> Page[FeatureFlagRead]:
        """One page of flags; pass ``next_cursor`` on."""
        return self._run(FEATURE_FLAGS.list(limit=limit, cursor=cursor))

    def iter(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[FeatureFlagRead]:
        """Every flag, fetching pages of ``page_size`` as needed."""
        return self._pages(lambda cursor: FEATURE_FLAGS.list(limit=page_size, cursor=cursor))

    def get(self, key: str) -> FeatureFlagRead:
        """Get one flag.

        Raises:
            NotFound: no flag with this key.
        """
        return self._run(FEATURE_FLAGS.get(key))

    def set(
        self, key: str, *, enabled: bool, value: Any = None, description: str | None = None
    ) -> FeatureFlagRead:
        """Create or replace a flag.

        Args:
            key: Lowercase letters, digits, ``_``, ``.`` and ``-``.
            enabled: Whether the flag is on.
            value: Any JSON value the flag carries.
            description: What the flag is for.

        Raises:
            ValidationError: the key or a field is invalid.
        """
        return self._run(_FeatureFlags.put(key, enabled, value, description))

    def delete(self, key: str) -> None:
        """Delete a flag.

        Raises:
            NotFound: no flag with this key.
        """
        self._run(FEATURE_FLAGS.delete(key))


class AsyncFeatureFlags(AsyncResource, twin=FeatureFlags):
    async def list(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[FeatureFlagRead]:
        return await self._run(FEATURE_FLAGS.list(limit=limit, cursor=cursor))

    def iter(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[FeatureFlagRead]:
        return self._pages(lambda cursor: FEATURE_FLAGS.list(limit=page_size, cursor=cursor))

    async def get(self, key: str) -> FeatureFlagRead:
        return await self._run(FEATURE_FLAGS.get(key))

    async def set(
        self, key: str, *, enabled: bool, value: Any = None, description: str | None = None
    ) -> FeatureFlagRead:
        return await self._run(_FeatureFlags.put(key, enabled, value, description))

    async def delete(self, key: str) -> None:
        await self._run(FEATURE_FLAGS.delete(key))
