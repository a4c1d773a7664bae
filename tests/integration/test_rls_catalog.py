"""Row-level security, read from the catalog: every tenant table, not only the ones tests visit.

A table with an ``organization_id`` column holds tenant rows, so it must have RLS enabled and
forced (the owner is bound too) and at least one policy; and the role the application connects
as must be one that RLS binds (neither superuser nor BYPASSRLS). New tenant tables are covered
as soon as a migration creates them.
"""

from __future__ import annotations

from typing import Any

import psycopg

from raylane.infra.db.urls import app_url, libpq_url

TENANT_TABLES = """
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
       (SELECT count(*) FROM pg_policies p
        WHERE p.schemaname = n.nspname AND p.tablename = c.relname) AS policies
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
ORDER BY c.relname
"""


def test_every_tenant_table_has_forced_rls_and_a_policy(owner_conn: Any) -> None:
    rows = owner_conn.execute(TENANT_TABLES).fetchall()
    tables = {name for name, *_ in rows}
    # The catalog query itself must see the tenant tables we know of.
    assert {"projects", "api_keys", "memberships", "audit_events", "collections"} <= tables
    unprotected = [
        (name, f"enabled={enabled}", f"forced={forced}", f"policies={policies}")
        for name, enabled, forced, policies in rows
        if not (enabled and forced and policies > 0)
    ]
    assert not unprotected, unprotected


def test_the_application_role_is_bound_by_rls(services: Any, owner_conn: Any) -> None:
    role = services.database_app_role
    flags = owner_conn.execute(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", (role,)
    ).fetchone()
    assert flags == (False, False), (role, flags)
    # And the application's own URL really connects as a role without those flags.
    with psycopg.connect(libpq_url(app_url(services))) as conn:
        row = conn.execute(
            "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    assert row is not None and row[1:] == (False, False), row
    assert row[0] == role
