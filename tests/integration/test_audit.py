"""The audit chain: every mutation recorded with its context, tampering and gaps found at the
first broken link, rows the application cannot change, and no action without its event."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.factories import Api, Tenant


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
