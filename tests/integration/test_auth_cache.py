"""The per-process API key cache: it spares the key lookup, and never outlives a change.

A second app instance (its own Platform, so its own cache) stands for another API replica.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from raylane.core.apikeys.gate import epoch_key
from raylane.errors import ServiceUnavailable
from raylane.serve.app import create_app
from tests.factories import Api, Tenant


@pytest.fixture
async def replica(services: Any) -> AsyncIterator[Api]:
    application = create_app(services)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://replica.test") as http:
            yield Api(http)


@pytest.fixture
def lookups(app: Any) -> Iterator[list[str]]:
    """Key lookups the main app sends to the database, as they happen."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if "raylane_api_key_lookup" in statement:
            seen.append(statement)

    engine = app.state.platform.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


async def _new_key(api: Api, tenant: Tenant) -> dict[str, Any]:
    r = await api.as_(tenant).post("/api/v1/api-keys", json={"name": "cached"})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_a_cached_key_spares_the_lookup(
    api: Api, org_a: Tenant, lookups: list[str], app: Any
) -> None:
    key = (await _new_key(api, org_a))["secret"]
    lookups.clear()
    for _ in range(3):
        assert (await api.as_(key).get("/api/v1/me")).status_code == 200
    assert len(lookups) == 1
    # Redis losing the epoch (a restart without persistence) only costs lookups.
    await app.state.platform.redis.delete(epoch_key(uuid.UUID(org_a.organization_id)))
    for _ in range(3):
        assert (await api.as_(key).get("/api/v1/me")).status_code == 200
    assert len(lookups) == 2


async def test_changes_reach_another_replica_on_the_next_request(
    api: Api, replica: Api, org_a: Tenant
) -> None:
    dev = await api.member(org_a, role="developer")
    for name, side in (("p", api), ("q", replica)):  # both replicas have the key cached
        assert (
            await side.as_(dev).post("/api/v1/projects", json={"name": name})
        ).status_code == 201

    r = await api.as_(org_a).patch(f"/api/v1/users/{dev.owner_id}", json={"role": "viewer"})
    assert r.status_code == 200, r.text
    assert (await replica.as_(dev).post("/api/v1/projects", json={"name": "r"})).status_code == 403
    assert (await replica.as_(dev).get("/api/v1/projects")).status_code == 200

    r = await api.as_(org_a).patch(f"/api/v1/users/{dev.owner_id}", json={"is_active": False})
    assert r.status_code == 200, r.text
    r = await replica.as_(dev).get("/api/v1/projects")
    assert r.status_code == 401 and "inactive" in r.json()["detail"]


async def test_revocation_reaches_another_replica_on_the_next_request(
    api: Api, replica: Api, org_a: Tenant
) -> None:
    key = await _new_key(api, org_a)
    assert (await replica.as_(key["secret"]).get("/api/v1/me")).status_code == 200
    assert (await api.as_(org_a).delete(f"/api/v1/api-keys/{key['id']}")).status_code == 200
    r = await replica.as_(key["secret"]).get("/api/v1/me")
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


async def test_a_change_that_cannot_reach_the_caches_is_rolled_back(
    api: Api, org_a: Tenant, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await _new_key(api, org_a)
    assert (await api.as_(key["secret"]).get("/api/v1/me")).status_code == 200

    async def unreachable(*_: Any) -> None:
        raise ServiceUnavailable("auth cache unavailable (Redis unreachable)")

    monkeypatch.setattr(app.state.platform.gate, "invalidate", unreachable)
    r = await api.as_(org_a).delete(f"/api/v1/api-keys/{key['id']}")
    assert r.status_code == 503
    monkeypatch.undo()
    listed = (await api.as_(org_a).get("/api/v1/api-keys")).json()["items"]
    assert [k["revoked_at"] for k in listed if k["id"] == key["id"]] == [None]
    assert (await api.as_(key["secret"]).get("/api/v1/me")).status_code == 200


async def test_a_stale_entry_is_rescoped_when_platform_reach_changed(
    api: Api, org_a: Tenant, org_b: Tenant, app: Any, owner_conn: Any
) -> None:
    # On a hit the transaction is scoped from the cached entry while Redis answers; when the
    # entry turns out stale, the fresh one's reach must win.
    key = (await _new_key(api, org_a))["secret"]
    other = f"/api/v1/organizations/{org_b.organization_id}"
    assert (await api.as_(key).get(other)).status_code == 404  # cached, scoped to org_a
    promote = "UPDATE organizations SET is_platform = %s WHERE id = %s"
    owner_conn.execute(promote, (True, org_a.organization_id))
    try:
        # The epoch replaced elsewhere (another replica's commit): this process's entry stays,
        # stale, and is found on the next request.
        await app.state.platform.redis.set(
            epoch_key(uuid.UUID(org_a.organization_id)), "replaced-elsewhere"
        )
        assert (await api.as_(key).get(other)).status_code == 200
    finally:
        owner_conn.execute(promote, (False, org_a.organization_id))
        await app.state.platform.gate.invalidate([uuid.UUID(org_a.organization_id)])


async def test_a_change_in_one_organization_leaves_the_others_cached(
    api: Api, replica: Api, org_a: Tenant, org_b: Tenant, lookups: list[str]
) -> None:
    key_b = (await _new_key(api, org_b))["secret"]
    key_a = await _new_key(api, org_a)
    for key in (key_b, key_a["secret"]):
        assert (await api.as_(key).get("/api/v1/me")).status_code == 200  # now cached here
    assert (await replica.as_(key_a["secret"]).get("/api/v1/me")).status_code == 200

    owner_a = api.as_(org_a)
    org = f"/api/v1/organizations/{org_a.organization_id}"
    assert (await owner_a.patch(org, json={"name": "Renamed"})).status_code == 200
    r = await owner_a.patch(f"/api/v1/users/{org_a.owner_id}", json={"name": "Someone Else"})
    assert r.status_code == 200
    lookups.clear()
    assert (await api.as_(key_b).get("/api/v1/me")).status_code == 200
    assert lookups == []  # org_b's entry outlived org_a's renames

    # ...while a revocation in org_a still reaches another replica on the very next request.
    assert (await owner_a.delete(f"/api/v1/api-keys/{key_a['id']}")).status_code == 200
    r = await replica.as_(key_a["secret"]).get("/api/v1/me")
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    lookups.clear()
    assert (await api.as_(key_b).get("/api/v1/me")).status_code == 200
    assert lookups == []
