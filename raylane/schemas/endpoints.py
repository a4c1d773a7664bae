"""Endpoints (a stable and a canary version behind one URL) and copilot configurations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, SecretStr, field_validator

from raylane.schemas.common import (
    HTTP_URL,
    JSON_NUMBER,
    MAX_TOKENS,
    NUL_FREE,
    Input,
    Int,
    Output,
    RawText,
)
from raylane.schemas.copilot import ChatAnswer, ChatBody
from raylane.schemas.guardrails import GuardrailPolicyBody

# An endpoint's or configuration's name: it appears in agent-test targets
# (``copilot-config:NAME:VERSION``), so no ``:`` or ``@``.
CONFIG_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
ConfigName = Annotated[str, Field(min_length=1, max_length=200, pattern=CONFIG_NAME)]
# A sticky header is an HTTP field name (RFC 9110 token).
HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"
# A version number (``3``) or, for a model endpoint, an alias (``production``, ``latest``).
VersionRef = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
Weight = Annotated[int, Field(ge=0, le=100), JSON_NUMBER]
StickyKey = Annotated[str, Field(min_length=1, max_length=500, pattern=NUL_FREE)]


class PlatformLlm(Input):
    """The LLM the platform serves (its ``LLM`` deployment)."""

    model_config = ConfigDict(extra="forbid")

    backend: Annotated[Literal["platform"], Field(json_schema_extra={"enum": ["platform"]})]


class OpenAILlm(Input):
    """An OpenAI-compatible chat endpoint of the tenant's (vLLM, a hosted API): ``base_url``
    ends before ``/chat/completions``. The ``api_key`` is stored sealed with the platform key and
    never returned (a read shows ``api_key_set``); the URL must pass the egress rule."""

    model_config = ConfigDict(extra="forbid")

    backend: Annotated[Literal["openai"], Field(json_schema_extra={"enum": ["openai"]})]
    base_url: str = Field(min_length=1, max_length=2000, pattern=HTTP_URL)
    model: str = Field(min_length=1, max_length=200, pattern=NUL_FREE)
    api_key: SecretStr | None = Field(default=None, min_length=1, max_length=4000)
    timeout_s: Annotated[float, Field(gt=0, le=600), JSON_NUMBER] = 60.0

    @field_validator("api_key")
    @classmethod
    def _header_safe(cls, value: SecretStr | None) -> SecretStr | None:
        # It is sent as ``Authorization: Bearer <key>``: no control characters (no CR/LF).
        if value is not None and any(
            ord(c) < 32 or ord(c) == 127 for c in value.get_secret_value()
        ):
            raise ValueError("api_key may not contain control characters")
        return value


LlmChoice = Annotated[PlatformLlm | OpenAILlm, Field(discriminator="backend")]


class CopilotConfigSpec(Input):
    """What a copilot configuration fixes; a field left out keeps the chat request's value."""

    model_config = ConfigDict(extra="forbid")

    system_prompt: Annotated[RawText, Field(min_length=1, max_length=20_000)] | None = None
    answer_mode: Literal["auto", "extractive", "generative"] = "auto"
    top_k: Int = Field(default=4, ge=1, le=20)
    collection_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    max_tokens: Annotated[int, Field(ge=1, le=MAX_TOKENS), JSON_NUMBER] | None = None
    temperature: Annotated[float, Field(ge=0, le=2), JSON_NUMBER] | None = None
    # Merged over the project's effective policy, field by field, as a project's over its
    # organization's.
    guardrail_policy: GuardrailPolicyBody | None = None
    # Which LLM answers (default: the platform's). ``auto`` answers are generative with a
    # tenant's own LLM: extraction is for the small bundled model.
    llm: LlmChoice | None = None


class CopilotConfigCreate(Input):
    """A configuration version: a new name creates the configuration; the same spec as an
    existing version answers that version (200)."""

    name: ConfigName
    spec: CopilotConfigSpec


class CopilotConfigRead(Output):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    latest_version: int
    created_at: datetime


class CopilotConfigVersionRead(Output):
    id: uuid.UUID
    config_id: uuid.UUID
    version: int
    digest: str
    spec: dict[str, Any]
    created_at: datetime


class EndpointCreate(Input):
    """An endpoint serving ``subject`` (a registered model's name, or a copilot configuration's
    name): ``stable`` is a version number or, for models, an alias, resolved and pinned now."""

    name: ConfigName
    kind: Literal["model", "copilot"]
    subject: ConfigName
    stable: VersionRef
    sticky_header: (
        Annotated[str, Field(min_length=1, max_length=100, pattern=HEADER_NAME)] | None
    ) = None


class SplitUpdate(Input):
    """A manual split: ``weight`` percent of requests to ``canary`` (a version number of the
    endpoint's subject); ``canary: null`` clears the canary (weight must then be 0)."""

    canary: Annotated[int, Field(ge=1, le=1_000_000_000), JSON_NUMBER] | None = None
    weight: Weight


class EndpointRead(Output):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    kind: str
    subject: str
    stable_ref: uuid.UUID
    stable_label: str
    canary_ref: uuid.UUID | None
    canary_label: str | None
    canary_weight: int
    sticky_header: str | None
    generation: int
    created_at: datetime
    updated_at: datetime


class EndpointPredict(Input):
    """Inputs for a model endpoint; ``key`` (a user or session id) keeps a caller on one
    version (the endpoint's sticky header, when it has one and it is sent, wins)."""

    inputs: list[Annotated[RawText, Field(min_length=1, max_length=10_000)]] = Field(
        min_length=1, max_length=256
    )
    key: StickyKey | None = None


class EndpointChat(ChatBody):
    """The copilot chat body, plus ``key`` to keep a caller on one version."""

    key: StickyKey | None = None


class EndpointChatAnswer(ChatAnswer):
    """The copilot's answer, with the configuration version that gave it."""

    version: str
    variant: Literal["stable", "canary"]


class EndpointPrediction(Output):
    label: str
    probabilities: dict[str, float]


class EndpointPredictResponse(Output):
    endpoint_id: uuid.UUID
    version: str
    variant: Literal["stable", "canary"]
    predictions: list[EndpointPrediction]


class VersionWindow(Output):
    """One version's requests in the window (5-second resolution)."""

    version: str
    requests: int
    errors: int
    blocked: int
    tokens: int
    error_rate: float
    block_rate: float
    p95_ms: float | None


class EndpointMetrics(Output):
    endpoint_id: uuid.UUID
    since: datetime
    until: datetime
    stable: VersionWindow
    canary: VersionWindow | None
