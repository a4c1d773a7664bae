"""The object deletion outbox: stored objects are removed only after their rows are gone.

A row names an object that may no longer be needed. Rows for replaced or deleted documents are
written in the transaction that removes the document rows, so a rollback takes them back too;
an upload records its new object here (in a transaction of its own, before the write) and the
upload's transaction removes that record again, so an upload that never commits leaves a record
behind and the sweeper removes the object. An object is deleted only while no document refers to
it (checked under a per-key advisory lock that uploads take as well).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from raylane.migrations.ddl import base_columns, enable_tenant_rls

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "object_deletions",
        *base_columns(),
        sa.Column("object_key", sa.String(1000), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("object_deletions_due", "object_deletions", ["next_attempt_at"])
    # Before deleting an object the outbox asks whether a document still points at it.
    op.create_index("ix_documents_object_key", "documents", ["object_key"])
    enable_tenant_rls("object_deletions")
    # The sweeper runs with no tenant: this tells it which organizations have work due (ids
    # only, no keys); it then drains each one's rows in that organization's own scope.
    op.execute(
        """
        CREATE FUNCTION raylane_object_deletions_due(p_limit int)
        RETURNS TABLE (organization_id uuid)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT organization_id FROM object_deletions
            WHERE next_attempt_at <= now()
            GROUP BY organization_id ORDER BY min(next_attempt_at) LIMIT p_limit
        $$;
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS raylane_object_deletions_due(int)")
    op.drop_index("ix_documents_object_key", "documents")
    op.drop_table("object_deletions")
