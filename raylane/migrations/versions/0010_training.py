"""Datasets, experiments and the model registry.

Every table is tenant-scoped with forced row-level security, like the others; the application
role gets its grants from ``raylane db upgrade`` (every table in the schema). Metric points are
the one high-volume table: indexed by (run, key, step) for histories.

Revision ID: 0010
Revises: 0009
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

from raylane.migrations.ddl import base_columns, enable_tenant_rls

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = [
    "datasets",
    "dataset_versions",
    "experiments",
    "experiment_runs",
    "experiment_metrics",
    "experiment_artifacts",
    "registered_models",
    "model_versions",
    "model_aliases",
]


def _fk(table: str, ondelete: str, **kw: Any) -> sa.Column[Any]:
    """``<table minus s>_id`` referencing ``table.id``."""
    name = f"{table.removesuffix('s')}_id"
    return sa.Column(name, sa.Uuid, sa.ForeignKey(f"{table}.id", ondelete=ondelete), **kw)


def _json(name: str) -> sa.Column[Any]:
    return sa.Column(name, pg.JSONB, nullable=False, server_default="{}")


def _datasets() -> None:
    op.create_table(
        "datasets",
        *base_columns(),
        _fk("projects", "CASCADE", nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("source", sa.String(16), nullable=False),
        _fk("collections", "SET NULL"),
        sa.Column("label_field", sa.String(200)),
        sa.Column("latest_version", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("project_id", "name"),
    )
    op.create_table(
        "dataset_versions",
        *base_columns(),
        _fk("datasets", "CASCADE", nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("object_key", sa.String(1000), nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
        _json("label_counts"),
        _json("splits"),
        _json("origin"),
        sa.Column("created_by", sa.Uuid),
        sa.UniqueConstraint("dataset_id", "content_hash"),
        sa.UniqueConstraint("dataset_id", "version"),
    )


def _experiments() -> None:
    op.create_table(
        "experiments",
        *base_columns(),
        _fk("projects", "CASCADE", nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text),
        _json("tags"),
        sa.UniqueConstraint("project_id", "name"),
    )
    op.create_table(
        "experiment_runs",
        *base_columns(),
        _fk("experiments", "CASCADE", nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _json("params"),
        _json("tags"),
        _json("metrics"),
        _fk("runs", "SET NULL"),
        _fk("dataset_versions", "SET NULL"),
        sa.Column(
            "parent_id",
            sa.Uuid,
            sa.ForeignKey("experiment_runs.id", ondelete="SET NULL"),
            index=True,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("created_by", sa.Uuid),
    )
    op.create_table(
        "experiment_metrics",
        *base_columns(),
        _fk("experiment_runs", "CASCADE", nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_experiment_metrics_series", "experiment_metrics", ["experiment_run_id", "key", "step"]
    )
    op.create_table(
        "experiment_artifacts",
        *base_columns(),
        _fk("experiment_runs", "CASCADE", nullable=False, index=True),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("object_key", sa.String(1000), nullable=False),
        sa.UniqueConstraint("experiment_run_id", "path"),
    )


def _registry() -> None:
    op.create_table(
        "registered_models",
        *base_columns(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text),
        _json("tags"),
        sa.Column("latest_version", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("organization_id", "name"),
    )
    op.create_table(
        "model_versions",
        *base_columns(),
        _fk("registered_models", "CASCADE", nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("description", sa.Text),
        _json("tags"),
        _json("signature"),
        _fk("experiment_runs", "SET NULL"),
        sa.Column(
            "artifact_id", sa.Uuid, sa.ForeignKey("experiment_artifacts.id", ondelete="SET NULL")
        ),
        sa.Column("artifact_path", sa.String(500), nullable=False),
        sa.Column("artifact_key", sa.String(1000), nullable=False),
        _fk("dataset_versions", "SET NULL"),
        sa.Column("created_by", sa.Uuid),
        sa.UniqueConstraint("registered_model_id", "version"),
    )
    op.create_table(
        "model_aliases",
        *base_columns(),
        _fk("registered_models", "CASCADE", nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        _fk("model_versions", "CASCADE", nullable=False, index=True),
        # One holder per (model, alias): a move updates this row, never adds a second.
        sa.UniqueConstraint("registered_model_id", "alias"),
    )


def upgrade() -> None:
    _datasets()
    _experiments()
    _registry()
    for table in TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
