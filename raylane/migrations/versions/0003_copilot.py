"""Copilot: conversations, messages, guardrail policies, daily usage.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from raylane.migrations.ddl import base_columns, enable_tenant_rls

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        *base_columns(),
        sa.Column(
            "project_id",
            sa.Uuid,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("title", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_by", sa.Uuid),
    )
    op.create_table(
        "messages",
        *base_columns(),
        sa.Column(
            "conversation_id",
            sa.Uuid,
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("citations", pg.JSONB, nullable=False, server_default="[]"),
        sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "guardrail_policies",
        *base_columns(),
        sa.Column("project_id", sa.Uuid, sa.ForeignKey("projects.id", ondelete="CASCADE")),
        sa.Column("policy", pg.JSONB, nullable=False, server_default="{}"),
    )
    # One organization-wide policy (project NULL) and one per project.
    op.execute(
        "CREATE UNIQUE INDEX guardrail_policies_scope ON guardrail_policies "
        "(organization_id, coalesce(project_id, '00000000-0000-0000-0000-000000000000'::uuid))"
    )
    op.create_table(
        "usage_daily",
        *base_columns(),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("requests", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("input_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("output_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.UniqueConstraint("organization_id", "day"),
    )
    for table in ["conversations", "messages", "guardrail_policies", "usage_daily"]:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in ["usage_daily", "guardrail_policies", "messages", "conversations"]:
        op.drop_table(table)
