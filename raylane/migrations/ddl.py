"""DDL shared by migrations: the columns every table has, and one row-level security shape."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op


def base_columns(*, tenant: bool = True) -> list[sa.Column[Any]]:
    """id, timestamps and (for tenant tables) the indexed ``organization_id`` foreign key."""
    columns = [
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    ]
    if tenant:
        columns.append(
            sa.Column(
                "organization_id",
                sa.Uuid,
                sa.ForeignKey("organizations.id", ondelete="CASCADE"),
                nullable=False,
                index=True,
            )
        )
    return columns


def project_column() -> sa.Column[Any]:
    """``project_id``: the owning project (rows go with it), indexed."""
    return sa.Column(
        "project_id",
        sa.Uuid,
        sa.ForeignKey("projects.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


def enable_tenant_rls(table: str) -> None:
    """FORCE row-level security keyed on ``organization_id = raylane_current_org()``."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} "
        "USING (organization_id = raylane_current_org()) "
        "WITH CHECK (organization_id = raylane_current_org())"
    )
