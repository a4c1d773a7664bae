"""Collections, documents and search."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AliasChoices, Field, model_validator

from raylane.schemas.common import Input, Output

MetadataType = Literal["string", "number", "integer", "boolean"]


class CollectionCreate(Input):
    name: str = Field(min_length=1, max_length=200)
    embedding_model: str | None = Field(default=None, max_length=200)
    chunk_max_tokens: int | None = Field(default=None, ge=16, le=512)
    chunk_overlap: int | None = Field(default=None, ge=0, le=256)
    metadata_schema: dict[str, MetadataType] = Field(default_factory=dict, max_length=50)
    max_documents: int | None = Field(default=None, ge=1)
    max_document_bytes: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> CollectionCreate:
        if (
            self.chunk_overlap is not None
            and self.chunk_max_tokens is not None
            and self.chunk_overlap >= self.chunk_max_tokens
        ):
            raise ValueError("chunk_overlap must be smaller than chunk_max_tokens")
        return self


class CollectionRead(Output):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    embedding_model: str
    dimensions: int
    chunk_max_tokens: int
    chunk_overlap: int
    metadata_schema: dict[str, str]
    max_documents: int
    max_document_bytes: int
    region: str
    created_at: datetime


class DocumentRead(Output):
    id: uuid.UUID
    collection_id: uuid.UUID
    name: str
    size: int
    content_hash: str
    mime: str
    metadata: dict[str, Any] = Field(validation_alias=AliasChoices("metadata_", "metadata"))
    status: str
    chunk_count: int
    error: str | None
    created_at: datetime
    updated_at: datetime


class DocumentUploaded(Output):
    """One file of an upload: ``created`` is False when identical content was already stored."""

    document: DocumentRead
    created: bool


class DocumentText(Input):
    """A document given as text in a JSON body (the alternative to multipart files)."""

    name: str = Field(min_length=1, max_length=500)
    text: str = Field(min_length=1)
    mime: str = Field(default="text/plain", max_length=100)
    metadata: dict[str, Any] = Field(default_factory=dict)


def metadata_per_file(value: object, names: list[str]) -> dict[str, dict[str, Any]]:
    """Each file's metadata from an upload's ``metadata`` field (already parsed from JSON).

    The one rule for the server's multipart field and the CLI's ``--metadata``: a
    ``{file name: object}`` mapping when every key names one of the files and every value is an
    object, otherwise one object for every file. Files left out get no metadata.

    Raises:
        ValueError: the value is not a JSON object.
    """
    if not isinstance(value, dict):
        raise ValueError("metadata must be a JSON object")
    if not value:
        return {}
    if set(value) <= set(names) and all(isinstance(v, dict) for v in value.values()):
        return value
    return dict.fromkeys(names, value)


class DocumentBatch(Input):
    documents: list[DocumentText] = Field(min_length=1, max_length=1000)


class SearchRequest(Input):
    query: str | None = Field(default=None, min_length=1, max_length=4000)
    vector: list[float] | None = Field(default=None, min_length=1, max_length=4096)
    top_k: int = Field(default=5, ge=1, le=100)
    filters: dict[str, str | int | float | bool] = Field(default_factory=dict, max_length=20)
    mode: Literal["vector", "hybrid"] = "vector"

    @model_validator(mode="after")
    def _one_of_query_or_vector(self) -> SearchRequest:
        if (self.query is None) == (self.vector is None):
            raise ValueError("give exactly one of query or vector")
        if self.mode == "hybrid" and self.query is None:
            raise ValueError("hybrid search needs a text query")
        return self


class SearchHit(Output):
    chunk_id: uuid.UUID
    document_id: uuid.UUID
    document_name: str
    chunk_index: int
    text: str
    score: float
    metadata: dict[str, Any]


class SearchResults(Output):
    collection_id: uuid.UUID
    mode: str
    hits: list[SearchHit]
