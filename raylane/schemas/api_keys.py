"""API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from raylane.schemas.common import Input, Output


class ApiKeyCreate(Input):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(default_factory=lambda: ["*"], max_length=50)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
    user_id: uuid.UUID | None = None


class ApiKeyRead(Output):
    id: uuid.UUID
    name: str
    prefix: str
    user_id: uuid.UUID
    scopes: list[str]
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class ApiKeyCreated(ApiKeyRead):
    """The only time the secret is shown."""

    secret: str
