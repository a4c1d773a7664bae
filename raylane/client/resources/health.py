"""The server's health report (``GET /api/health``); sent by ``Client.health`` and
``AsyncClient.health``."""

from __future__ import annotations

from typing import Final

from raylane.client._resources import Call
from raylane.schemas.health import HealthRead

# A degraded server answers 503 with the same report: a result to show, not an error.
HEALTH: Final = Call("GET", "/api/health", HealthRead.model_validate, accept=(503,))
