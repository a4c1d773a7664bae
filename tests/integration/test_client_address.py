"""The address and request id an audit row records: the client's, not a proxy's or a liar's.

Each test drives the ASGI app with a chosen peer address (``ASGITransport(client=...)``) and reads
the audit row its request wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from ipaddress import ip_network
from typing import Any

import httpx
import pytest

from raylane.serve.app import create_app
from tests.factories import Tenant


@asynccontextmanager
async def _client(app: Any, peer: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://raylane.test") as http:
        yield http


async def _audited(http: httpx.AsyncClient, tenant: Tenant, headers: dict[str, Any]) -> Any:
    """Create a project with ``headers``; return the response and its audit row."""
    auth = {"Authorization": f"Bearer {tenant.token}"}
    r = await http.post(
        "/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex[:8]}"}, headers=auth | headers
    )
    assert r.status_code == 201, r.text
    events = await http.get(
        "/api/v1/audit/events",
        params={"target_id": r.json()["id"], "action": "project.create"},
        headers=auth,
    )
    [event] = events.json()["items"]
    return r, event


async def test_the_local_proxy_is_trusted_and_a_remote_peer_is_not(app: Any, org_a: Tenant) -> None:
    # Serve's proxy is local: behind it, the address it forwards is the client's.
    async with _client(app, "127.0.0.1") as http:
        _, event = await _audited(http, org_a, {"X-Forwarded-For": "198.51.100.9"})
    assert event["ip"] == "198.51.100.9"
    # A peer outside the trusted ranges speaks for itself only, whatever it claims.
    async with _client(app, "203.0.113.7") as http:
        _, event = await _audited(http, org_a, {"X-Forwarded-For": "198.51.100.9"})
    assert event["ip"] == "203.0.113.7"


@pytest.fixture
async def behind_a_balancer(services: Any) -> AsyncIterator[Any]:
    api = services.api.model_copy(
        update={"trusted_proxies": [ip_network("127.0.0.0/8"), ip_network("10.0.0.0/8")]}
    )
    application = create_app(services.model_copy(update={"api": api}))
    async with application.router.lifespan_context(application):
        yield application


async def test_trusted_hops_are_skipped_right_to_left(
    behind_a_balancer: Any, org_a: Tenant
) -> None:
    async with _client(behind_a_balancer, "127.0.0.1") as http:
        # The client wrote 1.2.3.4 itself; the balancer (10.0.0.5) saw 198.51.100.9.
        _, event = await _audited(
            http, org_a, {"X-Forwarded-For": "1.2.3.4, 198.51.100.9, 10.0.0.5"}
        )
        assert event["ip"] == "198.51.100.9"
        # Two X-Forwarded-For lines read as one list, in order.
        _, event = await _audited(
            http,
            org_a,
            {"X-Forwarded-For": "1.2.3.4, 198.51.100.10", "x-forwarded-for": "10.0.0.5"},
        )
        assert event["ip"] == "198.51.100.10"


async def test_a_request_id_that_is_not_text_is_replaced(app: Any, org_a: Tenant) -> None:
    async with _client(app, "203.0.113.7") as http:
        r, event = await _audited(http, org_a, {"X-Request-ID": b"\xff\xfe-bad"})
        assert r.headers["x-request-id"] == event["request_id"]
        assert len(event["request_id"]) == 32 and event["request_id"].isalnum()
        r, event = await _audited(http, org_a, {"X-Request-ID": "trace-42"})
        assert r.headers["x-request-id"] == event["request_id"] == "trace-42"
