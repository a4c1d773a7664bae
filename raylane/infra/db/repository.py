"""The repository base every domain repository stands on: get, page, add, delete, flush.

A subclass names its model (``model = Project``) and adds the queries only its domain needs.
Writes flush, never commit: the caller's transaction (request, job or actor scope) decides.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from raylane.infra.db.base import Entity
from raylane.infra.db.paging import Page, keyset_page

M = TypeVar("M", bound=Entity)


class Repository(Generic[M]):
    """SQL for one ORM model, over the caller's session (row-level security scopes it)."""

    model: type[M]
    #: Pages run newest first (by UUIDv7 id) instead of oldest first.
    newest_first: bool = False

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, id: uuid.UUID) -> M | None:
        return await self._session.get(self.model, id)

    async def page(
        self,
        where: Select[Any] | Mapping[str, Any] | None = None,
        *,
        limit: int,
        cursor: str | None,
    ) -> Page[M]:
        """One keyset page of the model's rows after ``cursor``.

        ``where`` is a statement selecting the model, or column equalities where a None value
        means "any" (so optional filters pass straight through), or None for every row.
        """
        if where is None or isinstance(where, Mapping):
            stmt = select(self.model).filter_by(
                **{k: v for k, v in (where or {}).items() if v is not None}
            )
        else:
            stmt = where
        return await keyset_page(
            self._session,
            stmt,
            self.model.id,
            limit=limit,
            cursor=cursor,
            descending=self.newest_first,
        )

    async def add(self, obj: M) -> M:
        """Insert ``obj`` now (a duplicate key fails here, inside the caller's savepoint)."""
        self._session.add(obj)
        await self._session.flush()
        return obj

    async def delete(self, obj: M) -> None:
        await self._session.delete(obj)
        await self._session.flush()

    async def flush(self) -> None:
        """Write pending changes to loaded rows (the transaction stays open)."""
        await self._session.flush()
