"""Agent tests: suites and their versions, stored targets, per-case results of test runs.

A test run is a Run of kind ``agent_test`` (no new run table); its cases' results are rows of
``agent_case_results``, unique per (run, case) so a retried attempt resumes. Every table is
tenant-scoped with the same row-level security as the rest.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from raylane.migrations.ddl import base_columns, enable_tenant_rls, project_column

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLES = ["agent_suites", "agent_suite_versions", "agent_targets", "agent_case_results"]


def upgrade() -> None:
    op.create_table(
        "agent_suites",
        *base_columns(),
        project_column(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("latest_version", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("project_id", "name"),
    )
    op.create_table(
        "agent_suite_versions",
        *base_columns(),
        sa.Column(
            "suite_id",
            sa.Uuid,
            sa.ForeignKey("agent_suites.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("document", pg.JSONB, nullable=False),
        sa.Column("case_count", sa.Integer, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("created_by", sa.Uuid),
        sa.UniqueConstraint("suite_id", "version"),
        sa.UniqueConstraint("suite_id", "digest"),
    )
    op.create_table(
        "agent_targets",
        *base_columns(),
        project_column(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("template", pg.JSONB),
        sa.Column("headers", pg.JSONB, nullable=False, server_default="{}"),
        sa.Column("secret_header_names", pg.JSONB, nullable=False, server_default="[]"),
        sa.Column("secret_headers", sa.Text),
        sa.UniqueConstraint("project_id", "name"),
    )
    op.create_table(
        "agent_case_results",
        *base_columns(),
        sa.Column("run_id", sa.Uuid, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("case_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("tags", pg.JSONB, nullable=False, server_default="[]"),
        sa.Column("output", sa.Text, nullable=False, server_default=""),
        sa.Column("assertions", pg.JSONB, nullable=False, server_default="[]"),
        sa.Column("latency_ms", sa.Float),
        sa.Column("output_tokens", sa.Integer),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("error", sa.Text),
        sa.UniqueConstraint("run_id", "case_id"),
    )
    for table in TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
