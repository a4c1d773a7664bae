"""The model registry: registered models, versions, aliases."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from raylane.schemas.common import JSON_NUMBER, NUL_FREE, Input, Output, Text
from raylane.schemas.experiments import Key, TagValue

# Model names appear in paths: letters, digits and ``_ . -``, starting with a letter or digit.
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
# An alias: lowercase letters, digits, ``_`` and ``-``, never all digits (that is a version).
ALIAS = r"^(?:[a-z][a-z0-9_-]*|[0-9]+[a-z_-][a-z0-9_-]*)$"
ModelName = Annotated[str, Field(min_length=1, max_length=200, pattern=MODEL_NAME)]
Alias = Annotated[str, Field(min_length=1, max_length=64, pattern=ALIAS)]


class SignatureField(Input):
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=NUL_FREE)]
    type: Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[a-z0-9_\[\]]+$")]


class Signature(Input):
    """What the model takes and returns, e.g. inputs ``[{name: text, type: string}]``."""

    inputs: list[SignatureField] = Field(default_factory=list, max_length=100)
    outputs: list[SignatureField] = Field(default_factory=list, max_length=100)


class ModelCreate(Input):
    name: ModelName
    description: Text | None = Field(default=None, max_length=10_000)
    tags: dict[Key, TagValue] = Field(default_factory=dict, max_length=100)


class ModelUpdate(Input):
    description: Text | None = Field(default=None, max_length=10_000)
    tags: dict[Key, TagValue] | None = Field(default=None, max_length=100)


class ModelRead(Output):
    id: uuid.UUID
    name: str
    description: str | None
    tags: dict[str, str]
    latest_version: int
    aliases: dict[str, int] = Field(default_factory=dict, description="alias → version")
    created_at: datetime
    updated_at: datetime


class ModelVersionCreate(Input):
    """A version from a tracking run's artifact (``artifact_path`` as logged)."""

    experiment_run_id: uuid.UUID
    artifact_path: Annotated[str, Field(min_length=1, max_length=500, pattern=NUL_FREE)]
    description: Text | None = Field(default=None, max_length=10_000)
    tags: dict[Key, TagValue] = Field(default_factory=dict, max_length=100)
    signature: Signature | None = None


class Lineage(Output):
    """Where a version came from: tracking run → experiment, platform run, dataset version
    → dataset → collection (each null where unknown or since deleted)."""

    experiment_run_id: uuid.UUID | None = None
    experiment_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = None
    dataset_version_id: uuid.UUID | None = None
    dataset_id: uuid.UUID | None = None
    dataset_version: int | None = None
    collection_id: uuid.UUID | None = None


class ModelVersionRead(Output):
    id: uuid.UUID
    registered_model_id: uuid.UUID
    version: int
    description: str | None
    tags: dict[str, str]
    signature: dict[str, Any]
    experiment_run_id: uuid.UUID | None
    artifact_id: uuid.UUID | None
    artifact_path: str
    dataset_version_id: uuid.UUID | None
    aliases: list[str] = Field(default_factory=list)
    lineage: Lineage | None = None
    created_at: datetime


class AliasSet(Input):
    version: Annotated[int, Field(ge=1, le=2**31 - 1), JSON_NUMBER]


class AliasRead(Output):
    """The alias now, and the version that held it before the move (null when new)."""

    alias: str
    version: int
    previous_version: int | None
