"""Durable runs: dead letters with replays, and idempotency keys for run-creating requests.

* ``dead_lettered``: a run whose every attempt failed. Until now such a run was ``failed``, and
  nothing else ever was, so existing ``failed`` runs become ``dead_lettered`` (and replayable).
* ``replay_of`` / ``replayed_by``: a replay is a new run (fresh attempts, same kind, target and
  params) linked both ways to the dead letter; ``replay_of`` is unique, so one replay each.
* ``idempotency_keys``: the first answer to a run-creating request per (organization, route,
  key), kept 24 h; the unique constraint is what makes concurrent retries create one run.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from raylane.migrations.ddl import base_columns, enable_tenant_rls

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "runs",
        sa.Column("replay_of", sa.Uuid, sa.ForeignKey("runs.id", ondelete="SET NULL")),
    )
    op.add_column(
        "runs",
        sa.Column("replayed_by", sa.Uuid, sa.ForeignKey("runs.id", ondelete="SET NULL")),
    )
    op.create_unique_constraint("runs_replay_of_key", "runs", ["replay_of"])
    # The owner role has BYPASSRLS (checked before migrating): this reaches every tenant's rows.
    op.execute("UPDATE runs SET status = 'dead_lettered' WHERE status = 'failed'")

    op.create_table(
        "idempotency_keys",
        *base_columns(),
        sa.Column("scope", sa.String(300), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.SmallInteger),
        sa.Column("response", pg.JSONB),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("organization_id", "scope", "key"),
    )
    op.create_index("idempotency_keys_expiry", "idempotency_keys", ["expires_at"])
    enable_tenant_rls("idempotency_keys")
    op.execute(
        """
        -- Expired keys of every organization, a batch at a time (the reconciler's pass).
        CREATE FUNCTION raylane_purge_idempotency_keys(p_limit int) RETURNS int
        LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            WITH gone AS (
                DELETE FROM idempotency_keys WHERE id IN (
                    SELECT id FROM idempotency_keys WHERE expires_at <= now()
                    ORDER BY expires_at LIMIT p_limit)
                RETURNING 1)
            SELECT count(*)::int FROM gone
        $$;
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION raylane_purge_idempotency_keys(int)")
    op.drop_table("idempotency_keys")
    op.execute("UPDATE runs SET status = 'failed' WHERE status = 'dead_lettered'")
    op.drop_constraint("runs_replay_of_key", "runs", type_="unique")
    op.drop_column("runs", "replayed_by")
    op.drop_column("runs", "replay_of")
