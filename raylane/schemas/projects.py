"""Projects."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from raylane.schemas.common import Input, Output


class ProjectCreate(Input):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)


class ProjectUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)


class ProjectRead(Output):
    id: uuid.UUID
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime
