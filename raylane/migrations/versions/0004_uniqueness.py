"""Uniqueness the services rely on under concurrency: one active run per (kind, target), one
document per name in a collection.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE UNIQUE INDEX runs_one_active ON runs (kind, target_id) "
        "WHERE status IN ('queued', 'running', 'cancelling')"
    )
    op.create_unique_constraint("documents_collection_name", "documents", ["collection_id", "name"])


def downgrade() -> None:
    op.drop_constraint("documents_collection_name", "documents")
    op.execute("DROP INDEX runs_one_active")
