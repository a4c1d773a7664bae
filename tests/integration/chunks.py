"""Chunk rows as the ingest job writes them, for tests that have no Ray to run an ingest."""

from __future__ import annotations

import uuid
from typing import Any


def chunk_row(
    *,
    organization_id: uuid.UUID | str,
    collection_id: uuid.UUID | str,
    document_id: uuid.UUID | str,
    model: str,
    dimensions: int,
    text: str,
    embedding: list[float],
    index: int = 0,
    content_hash: str = "h",
    token_count: int = 16,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One row for ``ChunkRepository.upsert``."""
    return {
        "id": uuid.uuid4(),
        "organization_id": uuid.UUID(str(organization_id)),
        "collection_id": uuid.UUID(str(collection_id)),
        "document_id": uuid.UUID(str(document_id)),
        "chunk_index": index,
        "content_hash": content_hash,
        "model": model,
        "text": text,
        "token_count": token_count,
        "metadata": metadata or {},
        "dimensions": dimensions,
        "embedding": embedding,
    }
