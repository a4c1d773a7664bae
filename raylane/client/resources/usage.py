"""The organization's copilot usage (``GET /usage``); sent by ``Client.usage`` and
``AsyncClient.usage``."""

from __future__ import annotations

from raylane.client._resources import Call
from raylane.schemas.copilot import UsageRead


def report(days: int) -> Call[UsageRead]:
    """``GET /usage?days=``."""
    return Call("GET", "/api/v1/usage", UsageRead.model_validate, params={"days": days})
