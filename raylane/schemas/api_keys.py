"""API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Final, Literal, get_args

from pydantic import Field

from raylane.schemas.common import JSON_NUMBER, Input, Name, Output

# The permissions a key's scopes may name ("*": every permission of the key's role). The same
# strings as the server's RBAC table (a unit test ties the two), listed here because the SDK
# does not import the server; the document lists them as an enum.
ScopeName = Literal[
    "*",
    "org:read",
    "org:update",
    "org:create",
    "user:read",
    "user:write",
    "apikey:self",
    "apikey:admin",
    "project:read",
    "project:write",
    "flag:read",
    "flag:write",
    "audit:read",
    "collection:read",
    "collection:write",
    "run:read",
    "run:write",
    "copilot:use",
    "usage:read",
    "observability:read",
    "guardrail:read",
    "guardrail:write",
    "dataset:read",
    "dataset:write",
    "experiment:read",
    "experiment:write",
    "model:read",
    "model:write",
    "agenttest:read",
    "agenttest:write",
    "endpoint:read",
    "endpoint:write",
]
SCOPES: Final[tuple[str, ...]] = get_args(ScopeName)


def _every_scope() -> list[ScopeName]:
    return ["*"]


class ApiKeyCreate(Input):
    name: Name = Field(max_length=200)
    scopes: list[ScopeName] = Field(default_factory=_every_scope, max_length=50)
    expires_in_days: Annotated[int, Field(ge=1, le=3650), JSON_NUMBER] | None = None
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
