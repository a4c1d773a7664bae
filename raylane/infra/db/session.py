"""Engines and the one session helper.

Every transaction that touches tenant data first sets ``raylane.org_id`` with
``set_config(..., is_local => true)`` — the bind-parameter form of ``SET LOCAL`` — so row-level
security scopes every statement to that organization until the transaction ends.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

if TYPE_CHECKING:
    from psycopg import AsyncConnection

# Session settings every connection starts with. HNSW_EF_SEARCH is the candidate list vector
# search uses for top_k <= 200; a search that needs more sets it for its own transaction. At 100
# one collection of 42 in bench/search.py (~10k clustered rows, its own index) fell to recall@10
# 0.945: a query from a small, remote cluster whose greedy descent settled in a neighbouring
# one. 200 widens the beam out of such traps. Set once per connection, not per query.
HNSW_EF_SEARCH = 200
SESSION_SETTINGS = {"hnsw.ef_search": str(HNSW_EF_SEARCH)}

# A collection gets its own partial HNSW index once it holds this many chunks; below it, its rows
# come through the collection_id b-tree and are sorted exactly (full recall). Measured here
# (2 cores, 384-d): exact top-10 costs ~1 ms at 1k rows, ~4 ms at 2k, ~13 ms at 5k, ~24 ms at 10k,
# while an HNSW probe costs 1-5 ms at any of these sizes; and every partial index on the table is
# one more predicate each insert and each plan checks, so the many small collections stay exact.
SEARCH_INDEX_MIN_ROWS = 5000
# maintenance_work_mem for one build: a 100k x 384-d graph (~200 MB) that does not fit in memory
# is built several times slower.
SEARCH_INDEX_BUILD_MEMORY = "512MB"
# Graph quality of a collection's own index: pgvector's default ef_construction (64) left one
# 100k-row collection at recall@10 0.94 (ef_search 200); a build twice as thorough costs build
# time only (the build is CONCURRENTLY, after an ingest), never query time.
SEARCH_INDEX_EF_CONSTRUCTION = 128

# Row-level security is the tenant boundary; a superuser or BYPASSRLS role skips it silently.
# Role attributes are not inherited through membership, so current_user's own flags decide.
_ROLE_FLAGS = (
    "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
)


class UnsafeDatabaseRole(RuntimeError):
    """The application (or replica) connects as a role that row-level security does not bind."""


def refuse_privileged_role(role: str, superuser: bool, bypassrls: bool) -> None:
    """Raise ``UnsafeDatabaseRole`` when ``role`` is superuser or BYPASSRLS.

    There is no override: serving requests as such a role turns every tenant boundary off.
    """
    flags = [name for name, on in (("SUPERUSER", superuser), ("BYPASSRLS", bypassrls)) if on]
    if flags:
        raise UnsafeDatabaseRole(
            f"refusing to serve: the database role {role!r} is {' and '.join(flags)}, so "
            "row-level security would not isolate tenants. Point RAYLANE_DATABASE_URL (and "
            "RAYLANE_DATABASE_REPLICA_URL) at the application role (NOSUPERUSER NOBYPASSRLS, "
            "created by `raylane db upgrade`); the owner role belongs in "
            "RAYLANE_DATABASE_OWNER_URL only."
        )


def check_role(url: str) -> None:
    """Connect once to ``url`` and refuse a superuser or BYPASSRLS role (start-up check)."""
    import psycopg

    from raylane.infra.db.urls import libpq_url

    with psycopg.connect(libpq_url(url), connect_timeout=10) as conn:
        row = conn.execute(_ROLE_FLAGS).fetchone()
    assert row is not None  # current_user always has a pg_roles row
    refuse_privileged_role(*row)


_SET_TENANT = (
    "SELECT set_config('raylane.org_id', %(org)s, true), "
    "set_config('raylane.platform', %(platform)s, true)"
)


class Database:
    """An async engine and its sessionmaker; built in a lifespan or constructor, not at import."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
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
        """One transaction: commits on success, rolls back on error, tenant set for its length.

        Commit and close are called directly: ``async with session.begin()`` costs ~80 µs more
        a transaction (more greenlet hops), paid on every API request. Closing a session whose
        transaction is still open rolls it back.
        """
        session = self._sessions()
        try:
            if organization_id is not None or platform:
                await set_tenant(session, organization_id, platform=platform)
            yield session
            await session.commit()
        finally:
            await session.close()

    async def dispose(self) -> None:
        await self.engine.dispose()


def apply_session_settings(dbapi_connection: Any, _record: Any = None) -> None:
    """Refuse a superuser or BYPASSRLS role, then give a new connection SESSION_SETTINGS and
    pgvector's adapters (a connect hook; usable on plain psycopg too). With the adapters, a
    ``pgvector.Vector`` parameter travels in binary:
    formatting 384 floats as text cost ~0.2 ms a query."""
    from pgvector.psycopg.vector import register_vector_info
    from psycopg.types import TypeInfo

    cursor = dbapi_connection.cursor()
    for name, value in SESSION_SETTINGS.items():
        cursor.execute("SELECT set_config(%s, %s, false)", (name, value))
    # Every application connection (API, replica, jobs, actors) checks its own role once, when
    # it is opened: a pooled connection lives for many transactions, so this costs nothing.
    cursor.execute(_ROLE_FLAGS)
    row = cursor.fetchone()
    cursor.close()
    refuse_privileged_role(*(row.values() if isinstance(row, dict) else row))  # any row factory
    if hasattr(dbapi_connection, "run_async"):  # SQLAlchemy's adapter of an async connection
        info = dbapi_connection.run_async(lambda conn: TypeInfo.fetch(conn, "vector"))
        driver = dbapi_connection.driver_connection
    else:
        info = TypeInfo.fetch(dbapi_connection, "vector")
        driver = dbapi_connection
    if info is not None:  # None only before the migrations create the extension
        register_vector_info(driver, info)
    dbapi_connection.commit()  # a session setting made in a rolled-back transaction reverts


async def driver_connection(session: AsyncSession) -> AsyncConnection[Any]:
    """The psycopg connection under the session, in the session's transaction.

    For the statements every request runs (the tenant, the search): SQLAlchemy's statement layer
    costs ~0.15 ms a statement, as much as a local round trip. Same pool, same transaction.
    """
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None  # a checked-out connection always has one
    return cast("AsyncConnection[Any]", driver)


async def set_tenant(
    session: AsyncSession, organization_id: uuid.UUID | None, *, platform: bool = False
) -> None:
    """Scope the current transaction to one organization (and platform-admin reach, if given)."""
    driver = await driver_connection(session)  # this runs on every request
    await driver.execute(
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
    from raylane.infra.db.urls import app_url

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

    from raylane.errors import Conflict

    try:
        async with session.begin_nested():
            yield
            await session.flush()
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) == "23505":
            raise Conflict(f"{what} already exists") from exc
        raise
