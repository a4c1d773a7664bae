"""Runs, collections, documents and chunks (pgvector HNSW + full-text).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql as pg

from raylane.migrations.ddl import base_columns, enable_tenant_rls

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        *base_columns(),
        sa.Column("project_id", sa.Uuid, sa.ForeignKey("projects.id", ondelete="SET NULL")),
        sa.Column("kind", sa.String(32), nullable=False, index=True),
        sa.Column("target_id", sa.Uuid),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer, nullable=False, server_default="3"),
        sa.Column("ray_job_id", sa.String(128)),
        sa.Column("params", pg.JSONB, nullable=False, server_default="{}"),
        sa.Column("progress", pg.JSONB, nullable=False, server_default="{}"),
        sa.Column("result", pg.JSONB, nullable=False, server_default="{}"),
        sa.Column("error", sa.Text),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("created_by", sa.Uuid),
    )
    op.create_table(
        "collections",
        *base_columns(),
        sa.Column(
            "project_id",
            sa.Uuid,
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("embedding_model", sa.String(500), nullable=False),
        sa.Column("dimensions", sa.Integer, nullable=False),
        sa.Column("chunk_max_tokens", sa.Integer, nullable=False),
        sa.Column("chunk_overlap", sa.Integer, nullable=False),
        sa.Column("metadata_schema", pg.JSONB, nullable=False, server_default="{}"),
        sa.Column("max_documents", sa.Integer, nullable=False),
        sa.Column("max_document_bytes", sa.BigInteger, nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.UniqueConstraint("project_id", "name"),
    )
    op.create_table(
        "documents",
        *base_columns(),
        sa.Column(
            "collection_id",
            sa.Uuid,
            sa.ForeignKey("collections.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("mime", sa.String(100), nullable=False),
        sa.Column("metadata", pg.JSONB, nullable=False, server_default="{}"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("object_key", sa.String(1000), nullable=False),
        sa.Column("chunk_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("embedded_hash", sa.String(64)),
        sa.Column("error", sa.Text),
        sa.UniqueConstraint("collection_id", "content_hash"),
    )
    op.create_table(
        "chunks",
        *base_columns(),
        sa.Column(
            "collection_id",
            sa.Uuid,
            sa.ForeignKey("collections.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column(
            "document_id",
            sa.Uuid,
            sa.ForeignKey("documents.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("chunk_index", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("model", sa.String(500), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("token_count", sa.Integer, nullable=False),
        sa.Column("metadata", pg.JSONB, nullable=False, server_default="{}"),
        sa.Column("dimensions", sa.Integer, nullable=False),
        sa.Column("embedding", Vector(), nullable=False),
        sa.Column(
            "tsv",
            pg.TSVECTOR,
            sa.Computed("to_tsvector('english', text)", persisted=True),
        ),
        sa.UniqueConstraint("document_id", "chunk_index", "content_hash", "model"),
    )
    # One HNSW index per embedding width; 384 is MiniLM's. Another width gets its own partial
    # index in a migration; until then its searches are exact (correct, slower).
    op.execute(
        "CREATE INDEX chunks_embedding_384 ON chunks USING hnsw "
        "((embedding::vector(384)) vector_cosine_ops) WHERE dimensions = 384"
    )
    op.execute("CREATE INDEX chunks_tsv ON chunks USING gin (tsv)")
    op.execute("CREATE INDEX chunks_metadata ON chunks USING gin (metadata jsonb_path_ops)")
    op.execute("CREATE INDEX runs_due ON runs (status, next_attempt_at)")
    for table in ["runs", "collections", "documents", "chunks"]:
        enable_tenant_rls(table)
    # Workers (the reconciler, job drivers) receive only a run id: these resolve the tenant.
    op.execute(
        """
        CREATE FUNCTION raylane_run_tenant(p_run uuid) RETURNS uuid
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS
        $$ SELECT organization_id FROM runs WHERE id = p_run $$;

        CREATE FUNCTION raylane_runs_needing_attention(p_limit int)
        RETURNS TABLE (run_id uuid, organization_id uuid)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT id, organization_id FROM runs
            WHERE status IN ('running', 'cancelling')
               OR (status = 'queued' AND (next_attempt_at IS NULL OR next_attempt_at <= now()))
            ORDER BY created_at LIMIT p_limit
        $$;
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS raylane_runs_needing_attention(int)")
    op.execute("DROP FUNCTION IF EXISTS raylane_run_tenant(uuid)")
    for table in ["chunks", "documents", "collections", "runs"]:
        op.drop_table(table)
