"""The FastAPI app on real embedded Postgres and Redis, driven in-process over ASGI.

No reconciler runs here, so the runs these tests create stay ``queued``; the e2e stack, which
starts after this package on the same database, must not find them and submit them to Ray.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from raylane.infra.db.urls import app_url, libpq_url, owner_url
from tests.factories import Api, Tenant, bootstrap_platform


@pytest.fixture(scope="module")
def owner_conn(services):  # type: ignore[no-untyped-def]
    """The schema owner: sees every tenant's rows, so counts do not depend on the API."""
    with psycopg.connect(libpq_url(owner_url(services)), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def app_conn(services):  # type: ignore[no-untyped-def]
    """The role the API connects as: bound by row-level security and the audit grants."""
    with psycopg.connect(libpq_url(app_url(services)), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="package", autouse=True)
def no_runs_left_for_a_reconciler(services: Any) -> Iterator[None]:
    yield
    with psycopg.connect(libpq_url(owner_url(services)), autocommit=True) as conn:
        conn.execute(
            "UPDATE runs SET status = 'cancelled', finished_at = now() "
            "WHERE status IN ('queued', 'running', 'cancelling')"
        )


@pytest.fixture(scope="session")
async def app(services):  # type: ignore[no-untyped-def]
    from raylane.serve.app import create_app

    application = create_app(services)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def api(app) -> AsyncIterator[Api]:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(
        app=app, client=("203.0.113.7", 4242), raise_app_exceptions=False
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://raylane.test") as http:
        yield Api(http)


@pytest.fixture(scope="session")
async def platform_admin(api: Api, services: Any) -> Tenant:
    return await bootstrap_platform(services)


@pytest.fixture
async def org_a(api: Api, platform_admin: Tenant) -> Tenant:
    return await api.new_tenant(platform_admin)


@pytest.fixture
async def org_b(api: Api, platform_admin: Tenant) -> Tenant:
    return await api.new_tenant(platform_admin)
