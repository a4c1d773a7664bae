"""Raylane Python SDK: :class:`Client` (blocking) and :class:`AsyncClient`, with typed errors.

The SDK depends on httpx, pydantic and the shared wire models only, so it stays light enough
for notebooks; it never imports the server.

The copilot is also served in OpenAI's format, so tools built on the ``openai`` package work
unchanged: ``OpenAI(base_url=f"{client.base_url}/v1", api_key="rl_...")`` with the model
``copilot/<project id>`` (see :mod:`raylane.client.resources.copilot`).
"""

from raylane.client._http import sdk_version
from raylane.client._resources import UNSET
from raylane.client.client import AsyncClient, Client
from raylane.client.errors import (
    APIConnectionError,
    AuditChainBroken,
    BadRequest,
    ConfigError,
    Conflict,
    GuardrailBlocked,
    IdempotencyKeyReused,
    InternalError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    RaylaneError,
    RunFailed,
    ServiceUnavailable,
    Unauthenticated,
    ValidationError,
    WrongRegion,
)
from raylane.client.resources.copilot import ChatOptions

__version__ = sdk_version()

__all__ = [
    "UNSET",
    "APIConnectionError",
    "AsyncClient",
    "AuditChainBroken",
    "BadRequest",
    "ChatOptions",
    "Client",
    "ConfigError",
    "Conflict",
    "GuardrailBlocked",
    "IdempotencyKeyReused",
    "InternalError",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "RaylaneError",
    "RunFailed",
    "ServiceUnavailable",
    "Unauthenticated",
    "ValidationError",
    "WrongRegion",
    "__version__",
]
