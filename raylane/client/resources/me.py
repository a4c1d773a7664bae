"""Who the key belongs to (``GET /me``); sent by ``Client.me`` and ``AsyncClient.me``."""

from __future__ import annotations

from typing import Final

from raylane.client._resources import Call
from raylane.schemas.tenancy import MeRead

ME: Final = Call("GET", "/api/v1/me", MeRead.model_validate)
