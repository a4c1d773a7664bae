"""Row-level security as the application role sees it: no tenant set, no rows; a tenant set,
only its rows. (``test_rls_catalog.py`` checks every tenant table's policies.)"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.factories import Api, Tenant


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
