"""Collections (settings fixed at creation), documents (objects + metadata), chunks (vectors)
and the outbox of stored objects to remove once their rows are gone."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from raylane.infra.db.base import Entity, TenantScoped


class Collection(TenantScoped, Entity):
    __tablename__ = "collections"

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    embedding_model: Mapped[str] = mapped_column(String(500))
    dimensions: Mapped[int] = mapped_column(Integer)
    chunk_max_tokens: Mapped[int] = mapped_column(Integer)
    chunk_overlap: Mapped[int] = mapped_column(Integer)
    metadata_schema: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    max_documents: Mapped[int] = mapped_column(Integer)
    max_document_bytes: Mapped[int] = mapped_column(BigInteger)
    region: Mapped[str] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("project_id", "name"),)


class DocumentStatus(StrEnum):
    PENDING = "pending"  # stored, not yet embedded (or changed since)
    INGESTED = "ingested"
    FAILED = "failed"


class Document(TenantScoped, Entity):
    __tablename__ = "documents"

    collection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(500))
    size: Mapped[int] = mapped_column(BigInteger)
    content_hash: Mapped[str] = mapped_column(String(64))
    mime: Mapped[str] = mapped_column(String(100))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=DocumentStatus.PENDING)
    object_key: Mapped[str] = mapped_column(String(1000), index=True)  # the outbox checks it
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    embedded_hash: Mapped[str | None] = mapped_column(String(64))  # content hash last embedded
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("collection_id", "content_hash"),)


class Chunk(TenantScoped, Entity):
    __tablename__ = "chunks"

    collection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), index=True
    )
    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    chunk_index: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    dimensions: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[Any] = mapped_column(Vector())

    __table_args__ = (UniqueConstraint("document_id", "chunk_index", "content_hash", "model"),)


class DeletionReason(StrEnum):
    UPLOAD = "upload"  # written before an upload's object: removed by the upload's commit
    REPLACED = "replaced"
    DOCUMENT_DELETED = "document_deleted"
    COLLECTION_DELETED = "collection_deleted"
    PROJECT_DELETED = "project_deleted"


class ObjectDeletion(TenantScoped, Entity):
    """A stored object that may have lost its last document: deleted once none refers to it."""

    __tablename__ = "object_deletions"

    object_key: Mapped[str] = mapped_column(String(1000))
    reason: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_error: Mapped[str | None] = mapped_column(Text)
