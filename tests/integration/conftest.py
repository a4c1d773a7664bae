"""The FastAPI app on real embedded Postgres and Redis, driven in-process over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.factories import Api, Tenant, bootstrap_platform


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
