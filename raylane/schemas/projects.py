"""Projects."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from raylane.schemas.common import Input, Name, Output, Text


class ProjectCreate(Input):
    name: Name = Field(max_length=200)
    description: Text | None = Field(default=None, max_length=10_000)


class ProjectUpdate(Input):
    name: Name | None = Field(default=None, max_length=200)
    description: Text | None = Field(default=None, max_length=10_000)


class ProjectRead(Output):
    id: uuid.UUID
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime
