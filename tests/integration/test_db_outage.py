"""A database restart as the API sees it: the pool does not ping connections before use, so a
connection the server dropped fails the one request that lands on it with 503 + Retry-After,
and the pool replaces it (and every connection as old) before the next."""

from __future__ import annotations

from typing import Any

import httpx

from raylane.infra.db.urls import app_url
from raylane.serve.app import create_app
from tests.factories import Api, Tenant

_APP_BACKENDS = "SELECT pid FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()"


async def test_dropped_connections_cost_one_503_each_process_then_it_recovers(
    services: Any, org_a: Tenant, owner_conn: Any
) -> None:
    from sqlalchemy.engine import make_url

    role = make_url(app_url(services)).username
    before = {pid for (pid,) in owner_conn.execute(_APP_BACKENDS, (role,))}
    application = create_app(services)  # its own pool: no other test's connections are dropped
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://outage.test") as http:
            api = Api(http)
            for _ in range(2):  # the second request finds the key cached
                assert (await api.as_(org_a).get("/api/v1/projects")).status_code == 200
            ours = {pid for (pid,) in owner_conn.execute(_APP_BACKENDS, (role,))} - before
            assert ours, "the app holds a pooled connection"
            for pid in ours:  # what a restart does to them
                owner_conn.execute("SELECT pg_terminate_backend(%s)", (pid,))

            r = await api.as_(org_a).get("/api/v1/projects")
            assert r.status_code == 503, r.text
            assert r.json()["error"] == "service_unavailable" and r.headers["retry-after"]
            for _ in range(3):
                assert (await api.as_(org_a).get("/api/v1/projects")).status_code == 200
