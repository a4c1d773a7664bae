"""The one pager: keyset pages over UUIDv7 ids (creation order), ``limit + 1`` to see the next."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


@overload
async def keyset_page(
    session: AsyncSession,
    stmt: Select[T],
    id_column: Any,
    *,
    limit: int,
    cursor: str | None,
    descending: bool = False,
    row: None = None,
) -> Page[T]: ...


@overload
async def keyset_page(
    session: AsyncSession,
    stmt: Select[*tuple[Any, ...]],
    id_column: Any,
    *,
    limit: int,
    cursor: str | None,
    descending: bool = False,
    row: Callable[..., T],
) -> Page[T]: ...


async def keyset_page(
    session: AsyncSession,
    stmt: Any,
    id_column: Any,
    *,
    limit: int,
    cursor: str | None,
    descending: bool = False,
    row: Callable[..., Any] | None = None,
) -> Page[Any]:
    """One page of ``stmt`` after ``cursor`` (the last id seen), ordered by ``id_column``.

    ``stmt`` selects one entity, or columns that ``row`` turns into an item with an ``id``.
    """
    if cursor:
        after = uuid.UUID(cursor)
        stmt = stmt.where(id_column < after if descending else id_column > after)
    stmt = stmt.order_by(id_column.desc() if descending else id_column).limit(limit + 1)
    if row is None:
        rows = list(await session.scalars(stmt))
    else:
        rows = [row(*r) for r in (await session.execute(stmt)).all()]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, str(rows[-1].id) if more and rows else None)
