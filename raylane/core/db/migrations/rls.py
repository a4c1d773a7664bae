"""Row-level security DDL shared by migrations: one policy shape for every tenant table."""

from __future__ import annotations

from alembic import op


def enable_tenant_rls(table: str) -> None:
    """FORCE row-level security keyed on ``organization_id = raylane_current_org()``."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} "
        "USING (organization_id = raylane_current_org()) "
        "WITH CHECK (organization_id = raylane_current_org())"
    )
