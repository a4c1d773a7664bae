"""Feature flags per organization."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from raylane.schemas.common import Bool, Input, JsonValue, Output, Text

FLAG_KEY = r"^[a-z0-9][a-z0-9_.-]{0,99}$"


class FeatureFlagUpsert(Input):
    enabled: Bool
    value: JsonValue = None
    description: Text | None = Field(default=None, max_length=2000)


class FeatureFlagRead(Output):
    key: str
    enabled: bool
    value: Any = None
    description: str | None
    updated_at: datetime
