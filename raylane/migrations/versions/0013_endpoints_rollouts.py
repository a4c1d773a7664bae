"""Endpoints with a canary split, copilot configurations, and rollouts.

* ``copilot_configs`` / ``copilot_config_versions``: versioned, content-addressed copilot
  configurations (prompt, answer mode, retrieval, generation, guardrail policy);
* ``endpoints``: a stable and at most one canary version (model or copilot configuration) and
  the canary's weight;
* ``rollouts``: at most one active (running or paused) per endpoint (a partial unique index);
  ``raylane_rollouts_due()`` lists active rollouts across tenants for the orchestrator (ids
  only, SECURITY DEFINER like the run reconciler's functions).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from raylane.migrations.ddl import base_columns, enable_tenant_rls, project_column

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TABLES = ["copilot_configs", "copilot_config_versions", "endpoints", "rollouts"]


def upgrade() -> None:
    op.create_table(
        "copilot_configs",
        *base_columns(),
        project_column(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("latest_version", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("project_id", "name"),
    )
    op.create_table(
        "copilot_config_versions",
        *base_columns(),
        sa.Column(
            "config_id",
            sa.Uuid,
            sa.ForeignKey("copilot_configs.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("spec", pg.JSONB, nullable=False),
        sa.Column("created_by", sa.Uuid),
        sa.UniqueConstraint("config_id", "version"),
        sa.UniqueConstraint("config_id", "digest"),
    )
    op.create_table(
        "endpoints",
        *base_columns(),
        project_column(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("stable_ref", sa.Uuid, nullable=False),
        sa.Column("stable_label", sa.String(64), nullable=False),
        sa.Column("canary_ref", sa.Uuid),
        sa.Column("canary_label", sa.String(64)),
        sa.Column("canary_weight", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sticky_header", sa.String(100)),
        sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("project_id", "name"),
        sa.CheckConstraint("canary_weight BETWEEN 0 AND 100", name="endpoints_weight_range"),
    )
    op.create_table(
        "rollouts",
        *base_columns(),
        sa.Column(
            "endpoint_id",
            sa.Uuid,
            sa.ForeignKey("endpoints.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        project_column(),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("canary_ref", sa.Uuid, nullable=False),
        sa.Column("canary_label", sa.String(64), nullable=False),
        sa.Column("stable_ref", sa.Uuid, nullable=False),
        sa.Column("stable_label", sa.String(64), nullable=False),
        sa.Column("policy", pg.JSONB, nullable=False),
        sa.Column("step", sa.Integer, nullable=False, server_default="0"),
        sa.Column("step_started_at", sa.DateTime(timezone=True)),
        sa.Column("failed_analyses", sa.Integer, nullable=False, server_default="0"),
        sa.Column("test_run_id", sa.Uuid),
        sa.Column("history", pg.JSONB, nullable=False, server_default="[]"),
        sa.Column("reason", sa.Text),
        sa.Column("created_by", sa.Uuid),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        "CREATE UNIQUE INDEX rollouts_one_active_per_endpoint ON rollouts (endpoint_id) "
        "WHERE status IN ('running', 'paused')"
    )
    for table in TABLES:
        enable_tenant_rls(table)
    op.execute(
        """
        -- Running rollouts of every organization, for the orchestrator (ids only).
        CREATE FUNCTION raylane_rollouts_due(p_limit int)
        RETURNS TABLE (rollout_id uuid, organization_id uuid)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT r.id, r.organization_id FROM rollouts r
            WHERE r.status = 'running'
            ORDER BY r.step_started_at NULLS FIRST, r.id
            LIMIT p_limit
        $$;
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION raylane_rollouts_due(int)")
    for table in reversed(TABLES):
        op.drop_table(table)
