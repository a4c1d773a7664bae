"""Engines and the one session helper.

Every transaction that touches tenant data first sets ``raylane.org_id`` with
``set_config(..., is_local => true)`` — the bind-parameter form of ``SET LOCAL`` — so row-level
security scopes every statement to that organization until the transaction ends.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

# Session settings every connection starts with. HNSW_EF_SEARCH is the candidate list vector
# search uses for top_k <= 100 (recall@10 ~0.99 at 100k vectors); a search that needs more sets
# it for its own transaction. Set once per connection, not per query: a round trip saved.
HNSW_EF_SEARCH = 100
SESSION_SETTINGS = {"hnsw.ef_search": str(HNSW_EF_SEARCH)}

_SET_TENANT = text(
    "SELECT set_config('raylane.org_id', :org, true), "
    "set_config('raylane.platform', :platform, true)"
)


class Database:
    """An async engine and its sessionmaker; built in a lifespan or constructor, not at import."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        import raylane.core.db.models  # noqa: F401  (every mapper, so foreign keys resolve)

        # No pre-ping (a round trip on every checkout): a connection lost to a database restart
        # fails its one request with a 503, and the pool then replaces every older connection.
        self.engine: AsyncEngine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800
        )
        event.listen(self.engine.sync_engine, "connect", apply_session_settings)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(
        self, *, organization_id: uuid.UUID | None = None, platform: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """One transaction: commits on success, rolls back on error, tenant set for its length."""
        async with self._sessions() as session, session.begin():
            if organization_id is not None or platform:
                await set_tenant(session, organization_id, platform=platform)
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def apply_session_settings(dbapi_connection: Any, _record: Any = None) -> None:
    """Give a new connection SESSION_SETTINGS (a connect hook; usable on plain psycopg too)."""
    cursor = dbapi_connection.cursor()
    for name, value in SESSION_SETTINGS.items():
        cursor.execute("SELECT set_config(%s, %s, false)", (name, value))
    cursor.close()
    dbapi_connection.commit()  # a session setting made in a rolled-back transaction reverts


async def set_tenant(
    session: AsyncSession, organization_id: uuid.UUID | None, *, platform: bool = False
) -> None:
    """Scope the current transaction to one organization (and platform-admin reach, if given)."""
    connection = await session.connection()  # Core, not the ORM: this runs on every request
    await connection.execute(
        _SET_TENANT,
        {
            "org": str(organization_id) if organization_id else "",
            "platform": "on" if platform else "",
        },
    )


@asynccontextmanager
async def acting_as(session: AsyncSession, organization_id: uuid.UUID) -> AsyncIterator[None]:
    """Temporarily scope the transaction to another organization (platform-admin provisioning)."""
    previous = (
        await session.execute(text("SELECT current_setting('raylane.org_id', true)"))
    ).scalar()
    platform = (
        await session.execute(text("SELECT current_setting('raylane.platform', true)"))
    ).scalar() == "on"
    await set_tenant(session, organization_id, platform=platform)
    try:
        yield
    finally:
        await set_tenant(session, uuid.UUID(previous) if previous else None, platform=platform)


_databases: dict[str, Database] = {}


@asynccontextmanager
async def session_scope(
    *, organization_id: uuid.UUID | None = None, platform: bool = False
) -> AsyncIterator[AsyncSession]:
    """The session helper for jobs and actors: one cached engine per process and URL."""
    from raylane.core.db.urls import app_url

    url = app_url()
    db = _databases.get(url)
    if db is None:
        db = _databases[url] = Database(url, pool_size=2)
    async with db.session(organization_id=organization_id, platform=platform) as session:
        yield session


@asynccontextmanager
async def conflict_on_duplicate(session: AsyncSession, what: str) -> AsyncIterator[None]:
    """Run a write in a savepoint and turn a unique-constraint violation into Conflict (409)."""
    from sqlalchemy.exc import IntegrityError

    from raylane.core.errors import Conflict

    try:
        async with session.begin_nested():
            yield
            await session.flush()
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) == "23505":
            raise Conflict(f"{what} already exists") from exc
        raise
