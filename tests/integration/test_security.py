"""API keys, audit chain and the database-level guarantees behind them."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from raylane.infra.db.urls import app_url, libpq_url
from tests.factories import Api, Tenant


@pytest.fixture(scope="module")
def app_conn(services):  # type: ignore[no-untyped-def]
    with psycopg.connect(libpq_url(app_url(services)), autocommit=True) as conn:
        yield conn


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


class TestAudit:
    async def test_mutations_are_audited_with_context(self, api: Api, org_a: Tenant) -> None:
        r = await api.as_(org_a).post(
            "/api/v1/projects", json={"name": "audited"}, headers={"X-Request-ID": "req-123"}
        )
        project_id = r.json()["id"]
        await api.as_(org_a).patch(f"/api/v1/projects/{project_id}", json={"description": "v2"})
        events = (
            await api.as_(org_a).get(
                "/api/v1/audit/events", params={"target_id": project_id, "action": "project.*"}
            )
        ).json()["items"]
        assert [e["action"] for e in events] == ["project.update", "project.create"]
        update, create = events
        assert create["request_id"] == "req-123" and create["ip"] == "203.0.113.7"
        assert create["actor_id"] == org_a.owner_id
        assert update["summary"]["before"]["description"] is None
        assert update["summary"]["after"]["description"] == "v2"
        assert update["prev_hash"] == create["hash"]

    async def test_tampering_is_detected_at_the_first_broken_link(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection
    ) -> None:
        for i in range(3):
            await api.as_(org_a).post("/api/v1/projects", json={"name": f"t{i}"})
        ok = (await api.as_(org_a).get("/api/v1/audit/verify")).json()
        assert ok["ok"] is True and ok["checked"] >= 4
        owner_conn.execute(
            'UPDATE audit_events SET summary = \'{"after": {"name": "forged"}}\' '
            "WHERE organization_id = %s AND seq = 3",
            (org_a.organization_id,),
        )
        report = (await api.as_(org_a).get("/api/v1/audit/verify")).json()
        assert report["ok"] is False
        assert report["first_broken_seq"] == 3 and report["checked"] == 2

    async def test_deleted_event_is_a_gap(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection
    ) -> None:
        for i in range(3):
            await api.as_(org_a).post("/api/v1/projects", json={"name": f"d{i}"})
        owner_conn.execute(
            "DELETE FROM audit_events WHERE organization_id = %s AND seq = 2",
            (org_a.organization_id,),
        )
        report = (await api.as_(org_a).get("/api/v1/audit/verify")).json()
        assert report["ok"] is False and report["first_broken_seq"] == 3

    def test_app_role_cannot_update_or_delete_audit_rows(
        self, app_conn: psycopg.Connection, org_a: Tenant
    ) -> None:
        with app_conn.transaction():
            app_conn.execute(
                "SELECT set_config('raylane.org_id', %s, true)", (org_a.organization_id,)
            )
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app_conn.execute("UPDATE audit_events SET action = 'x'")
        with app_conn.transaction(), pytest.raises(psycopg.errors.InsufficientPrivilege):
            app_conn.execute("DELETE FROM audit_events")

    async def test_failed_audit_write_fails_the_action(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection
    ) -> None:
        # A duplicate seq makes the audit insert fail; the project must not be created.
        name = f"atomic-{uuid.uuid4().hex[:6]}"
        owner_conn.execute(
            "CREATE OR REPLACE FUNCTION raylane_test_fail() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN IF NEW.action = 'project.create' AND NEW.summary->'after'->>'name' LIKE "
            "'atomic-%%' THEN RAISE EXCEPTION 'audit store down'; END IF; RETURN NEW; END $$"
        )
        owner_conn.execute(
            "CREATE TRIGGER raylane_test_fail BEFORE INSERT ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION raylane_test_fail()"
        )
        try:
            r = await api.as_(org_a).post("/api/v1/projects", json={"name": name})
            assert r.status_code == 500
        finally:
            owner_conn.execute("DROP TRIGGER raylane_test_fail ON audit_events")
        names = {
            p["name"]
            for p in (await api.as_(org_a).get("/api/v1/projects?limit=200")).json()["items"]
        }
        assert name not in names


class TestRowLevelSecurity:
    def test_app_role_is_neither_superuser_nor_bypassrls(
        self, app_conn: psycopg.Connection
    ) -> None:
        row = app_conn.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert row == (False, False)

    async def test_no_tenant_sees_nothing_and_tenant_sees_only_its_rows(
        self, api: Api, org_a: Tenant, org_b: Tenant, app_conn: psycopg.Connection
    ) -> None:
        await api.as_(org_a).post("/api/v1/projects", json={"name": "rls-a"})
        await api.as_(org_b).post("/api/v1/projects", json={"name": "rls-b"})
        with app_conn.transaction():
            assert app_conn.execute("SELECT count(*) FROM projects").fetchone() == (0,)
        with app_conn.transaction():
            app_conn.execute(
                "SELECT set_config('raylane.org_id', %s, true)", (org_b.organization_id,)
            )
            orgs = {r[0] for r in app_conn.execute("SELECT organization_id::text FROM projects")}
            assert orgs == {org_b.organization_id}
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app_conn.execute(
                    "INSERT INTO projects (id, organization_id, name) VALUES (%s, %s, 'x')",
                    (str(uuid.uuid4()), org_a.organization_id),
                )
