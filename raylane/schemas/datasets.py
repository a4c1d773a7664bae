"""Datasets and their versions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from raylane.schemas.common import NUL_FREE, Input, Name, Output, Text

DatasetFormat = Literal["auto", "jsonl", "csv"]


def _dataset_schema(schema: dict[str, Any]) -> None:
    # A collection dataset names both; an upload dataset neither (what the service enforces).
    props = schema["properties"]
    for name in ("collection_id", "label_field"):
        props[name] = next(s for s in props[name]["anyOf"] if s.get("type") != "null")
    schema["allOf"] = [
        {"if": {"required": ["collection_id"]}, "then": {"required": ["label_field"]}},
        {"if": {"required": ["label_field"]}, "then": {"required": ["collection_id"]}},
    ]


class DatasetCreate(Input):
    """A dataset: uploaded versions, or (with ``collection_id`` and ``label_field``) snapshots
    of a collection's chunks labeled by that metadata field."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_dataset_schema)

    name: Name = Field(max_length=200)
    description: Text | None = Field(default=None, max_length=10_000)
    collection_id: uuid.UUID | None = None
    label_field: str | None = Field(default=None, min_length=1, max_length=200, pattern=NUL_FREE)


class DatasetRead(Output):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    description: str | None
    source: Literal["upload", "collection"]
    collection_id: uuid.UUID | None
    label_field: str | None
    latest_version: int
    created_at: datetime


class DatasetVersionRead(Output):
    id: uuid.UUID
    dataset_id: uuid.UUID
    version: int
    content_hash: str = Field(description="SHA-256 of the bytes received (hex)")
    format: Literal["jsonl", "csv", "collection"]
    size: int
    row_count: int
    label_counts: dict[str, int]
    splits: dict[str, int] = Field(description="rows per split; rows without one are not counted")
    origin: dict[str, Any]
    created_at: datetime


class DatasetVersionUploaded(Output):
    """``created`` is false when the same bytes made a version before (that one is returned)."""

    version: DatasetVersionRead
    created: bool
