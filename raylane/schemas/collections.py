"""Collections, documents and search."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from raylane.schemas.common import (
    JSON_NUMBER,
    NUL_FREE,
    WHITESPACE,
    Bool,
    Float,
    Input,
    Int,
    JsonObject,
    Name,
    Output,
    RawText,
    Text,
)

MetadataType = Literal["string", "number", "integer", "boolean"]

# A text document is text: no control characters but tab, newlines, vertical tab and form feed
# (the parser refuses text with many of them as binary; the document refuses any), and at least
# one character that is not whitespace.
_CONTROLS = r"\u0000-\u0008\u000e-\u001f\u007f-\u009f"
DOCUMENT_TEXT = rf"^[^{_CONTROLS}]*[^{_CONTROLS}{WHITESPACE}][^{_CONTROLS}]*$"


class CollectionCreate(Input):
    name: Name = Field(max_length=200)
    # Exactly as sent: the names are an enum in the document (the deployment's models).
    embedding_model: RawText | None = Field(default=None, max_length=200)
    # The overlap must stay below the chunk size. JSON Schema cannot compare two fields, so the
    # bounds make it hold for every pair a client can send (overlap <= 63 < 64 <= size); the
    # service still checks an overlap sent alone against the platform's default size.
    chunk_max_tokens: Annotated[int, Field(ge=64, le=512), JSON_NUMBER] | None = None
    chunk_overlap: Annotated[int, Field(ge=0, le=63), JSON_NUMBER] | None = None
    metadata_schema: dict[Annotated[str, Field(pattern=NUL_FREE)], MetadataType] = Field(
        default_factory=dict, max_length=50
    )
    # Stored as 32- and 64-bit integers; 2**53 keeps the bound exact in JSON (the platform caps
    # both further).
    max_documents: Annotated[int, Field(ge=1, le=2**31 - 1), JSON_NUMBER] | None = None
    max_document_bytes: Annotated[int, Field(ge=1, le=2**53), JSON_NUMBER] | None = None

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

    name: Name = Field(max_length=500)
    text: Annotated[str, Field(min_length=1, pattern=DOCUMENT_TEXT), AfterValidator(str.strip)]
    mime: Text = Field(default="text/plain", max_length=100)
    metadata: JsonObject = Field(default_factory=dict)


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


# A vector's components are stored as 32-bit floats: anything wider does not fit.
VectorValue = Annotated[float, Field(ge=-3.4e38, le=3.4e38), JSON_NUMBER]


def _search_schema(schema: dict[str, Any]) -> None:
    # The document states the rule the validator below enforces: exactly one of ``query`` and
    # ``vector`` (neither may be null), and a vector search only in ``vector`` mode.
    props = schema["properties"]
    for name in ("query", "vector"):
        props[name] = next(s for s in props[name]["anyOf"] if s.get("type") != "null")
    # Said with not/if/then/else rather than oneOf so that generated clients keep one body class.
    schema["not"] = {"required": ["query", "vector"]}
    schema["if"] = {"required": ["vector"]}
    schema["then"] = {"properties": {"mode": {"const": "vector"}}}
    schema["else"] = {"required": ["query"]}


class SearchRequest(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_search_schema)

    query: Name | None = Field(default=None, max_length=4000)
    vector: list[VectorValue] | None = Field(default=None, min_length=1, max_length=4096)
    top_k: Int = Field(default=5, ge=1, le=100)
    filters: dict[
        Annotated[str, Field(pattern=NUL_FREE)],
        Annotated[str, Field(pattern=NUL_FREE)] | Int | Float | Bool,
    ] = Field(default_factory=dict, max_length=20)
    mode: Literal["vector", "hybrid"] = "vector"

    @field_validator("query", "vector", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:  # left out, not null: the document has no null for either
            raise ValueError("leave the field out instead of sending null")
        return value

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
