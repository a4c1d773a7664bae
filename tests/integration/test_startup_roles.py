"""The platform refuses to serve as a database role that row-level security does not bind.

A single-URL deployment (RAYLANE_DATABASE_URL pointing at the owner or a superuser) would
otherwise run with every tenant boundary off, without a word.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from raylane.infra.db.session import Database, UnsafeDatabaseRole, session_scope
from raylane.infra.db.urls import app_url, libpq_url, owner_url
from raylane.serve.app import create_app


def _owner_is_privileged(services: Any) -> None:
    with psycopg.connect(libpq_url(owner_url(services))) as conn:
        row = conn.execute(
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    assert row is not None and row[0], "the test needs a privileged owner role"


async def test_api_refuses_to_start_as_the_owner_role(services: Any) -> None:
    _owner_is_privileged(services)
    settings = services.model_copy(update={"database_url": owner_url(services)})
    application = create_app(settings)
    with pytest.raises(UnsafeDatabaseRole, match=r"refusing to serve.*row-level security"):
        async with application.router.lifespan_context(application):
            pass


async def test_api_refuses_a_privileged_replica(services: Any) -> None:
    settings = services.model_copy(update={"database_replica_url": owner_url(services)})
    application = create_app(settings)
    with pytest.raises(UnsafeDatabaseRole, match=r"SUPERUSER|BYPASSRLS"):
        async with application.router.lifespan_context(application):
            pass


async def test_api_starts_as_the_application_role(services: Any) -> None:
    application = create_app(services)
    async with (
        application.router.lifespan_context(application),
        application.state.platform.db.session() as session,
    ):
        assert (await session.execute(text("SELECT 1"))).scalar() == 1


async def test_job_sessions_refuse_the_owner_role(services: Any) -> None:
    """Jobs and actors open their own engines: each new connection checks its role too."""
    db = Database(owner_url(services), pool_size=1)
    try:
        with pytest.raises(UnsafeDatabaseRole):
            async with db.session() as session:
                await session.execute(text("SELECT 1"))
    finally:
        await db.dispose()
    # The job helper on the configured (application) URL still works.
    assert app_url(services)
    async with session_scope() as session:
        assert (await session.execute(text("SELECT current_user"))).scalar() == "raylane_app"
