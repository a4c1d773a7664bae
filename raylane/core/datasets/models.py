"""Datasets and their versions. A version's bytes live in object storage as normalised JSON Lines
(``{"text", "label", "split"}`` per line); the row holds what was counted when it was made."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from raylane.infra.db.base import Entity, TenantScoped


class DatasetSource(StrEnum):
    UPLOAD = "upload"  # versions are uploaded files (JSON Lines or CSV)
    COLLECTION = "collection"  # versions are snapshots of a collection's labeled chunks


class Dataset(TenantScoped, Entity):
    __tablename__ = "datasets"

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default=DatasetSource.UPLOAD)
    collection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("collections.id", ondelete="SET NULL")
    )
    label_field: Mapped[str | None] = mapped_column(String(200))
    latest_version: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("project_id", "name"),)


class DatasetVersion(TenantScoped, Entity):
    __tablename__ = "dataset_versions"

    dataset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the bytes as received
    format: Mapped[str] = mapped_column(String(16))  # jsonl | csv | collection
    size: Mapped[int] = mapped_column(BigInteger)  # bytes as received
    object_key: Mapped[str] = mapped_column(String(1000))  # the normalised JSON Lines
    row_count: Mapped[int] = mapped_column(Integer)
    label_counts: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    splits: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    origin: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)  # file name / collection
    created_by: Mapped[uuid.UUID | None] = mapped_column()

    __table_args__ = (
        UniqueConstraint("dataset_id", "content_hash"),
        UniqueConstraint("dataset_id", "version"),
    )
