"""API keys: refused when missing, malformed, revoked or expired; shown once, stored hashed;
scopes narrow; a removed member's keys stop working."""

from __future__ import annotations

import psycopg

from tests.factories import Api, Tenant


class TestApiKeys:
    async def test_missing_malformed_and_unknown_keys_are_401(self, api: Api) -> None:
        assert (await api.http.get("/api/v1/me")).status_code == 401
        for token in ["nope", "rl_abc_def", f"rl_{'a' * 12}_{'b' * 43}"]:
            r = await api.as_(token).get("/api/v1/me")
            assert r.status_code == 401
            assert r.json()["error"] == "unauthenticated"

    async def test_secret_shown_once_and_stored_hashed(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection
    ) -> None:
        r = await api.as_(org_a).post("/api/v1/api-keys", json={"name": "ci"})
        assert r.status_code == 201
        created = r.json()
        assert created["secret"].startswith("rl_")
        listed = (await api.as_(org_a).get(f"/api/v1/api-keys/{created['id']}")).json()
        assert "secret" not in listed
        row = owner_conn.execute(
            "SELECT secret_hash FROM api_keys WHERE id = %s", (created["id"],)
        ).fetchone()
        assert row is not None and created["secret"] not in row[0] and len(row[0]) == 64

    async def test_revoked_key_rejected_on_next_request(self, api: Api, org_a: Tenant) -> None:
        created = (await api.as_(org_a).post("/api/v1/api-keys", json={"name": "temp"})).json()
        assert (await api.as_(created["secret"]).get("/api/v1/me")).status_code == 200
        r = await api.as_(org_a).delete(f"/api/v1/api-keys/{created['id']}")
        assert r.status_code == 200 and r.json()["revoked_at"] is not None
        r = await api.as_(created["secret"]).get("/api/v1/me")
        assert r.status_code == 401
        assert "revoked" in r.json()["detail"]

    async def test_expired_key_rejected(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection
    ) -> None:
        created = (await api.as_(org_a).post("/api/v1/api-keys", json={"name": "old"})).json()
        owner_conn.execute(
            "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = %s",
            (created["id"],),
        )
        r = await api.as_(created["secret"]).get("/api/v1/me")
        assert r.status_code == 401 and "expired" in r.json()["detail"]

    async def test_scoped_key_is_narrowed(self, api: Api, org_a: Tenant) -> None:
        created = (
            await api.as_(org_a).post(
                "/api/v1/api-keys", json={"name": "ro", "scopes": ["project:read"]}
            )
        ).json()
        ro = api.as_(created["secret"])
        assert (await ro.get("/api/v1/projects")).status_code == 200
        assert (await ro.post("/api/v1/projects", json={"name": "x"})).status_code == 403
        r = await api.as_(org_a).post("/api/v1/api-keys", json={"name": "bad", "scopes": ["root"]})
        assert r.status_code == 422

    async def test_removed_member_loses_access(self, api: Api, org_a: Tenant) -> None:
        dev = await api.member(org_a, role="developer")
        assert (await api.as_(dev).get("/api/v1/me")).status_code == 200
        assert (await api.as_(org_a).delete(f"/api/v1/users/{dev.owner_id}")).status_code == 204
        assert (await api.as_(dev).get("/api/v1/me")).status_code == 401

    async def test_admin_cannot_mint_a_key_for_an_owner(self, api: Api, org_a: Tenant) -> None:
        admin = await api.member(org_a, role="admin")
        r = await api.as_(admin).post(
            "/api/v1/api-keys", json={"name": "steal", "user_id": org_a.owner_id}
        )
        assert r.status_code == 403
        dev = await api.member(org_a, role="developer")
        r = await api.as_(admin).post(
            "/api/v1/api-keys", json={"name": "ok", "user_id": dev.owner_id}
        )
        assert r.status_code == 201

    async def test_members_list_only_their_own_keys(self, api: Api, org_a: Tenant) -> None:
        dev = await api.member(org_a, role="developer")
        listed = (await api.as_(dev).get("/api/v1/api-keys")).json()["items"]
        assert {k["user_id"] for k in listed} == {dev.owner_id}
        everyone = (await api.as_(org_a).get("/api/v1/api-keys?limit=200")).json()["items"]
        assert {dev.owner_id, org_a.owner_id} <= {k["user_id"] for k in everyone}
