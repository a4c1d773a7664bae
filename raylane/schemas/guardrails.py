"""Guardrail policies and policy checks on the wire.

``GuardrailPolicyBody`` mirrors the server's ``GuardrailPolicy`` field for field, so the SDK can
validate a policy before sending it without importing the server. Only the fields a policy
sets explicitly take part in merging an organization's policy with a project's: a body is
always sent and stored with unset fields left out, and ``GuardrailPolicyRead.policy`` shows
exactly the fields that were set.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import ConfigDict, Field, model_validator

from raylane.schemas.common import (
    JSON_NUMBER,
    MAX_TOKENS,
    NUL_FREE,
    Bool,
    Float,
    Input,
    Output,
    RawText,
)

DetectorName = Literal[
    "email",
    "phone",
    "credit_card",
    "iban",
    "ssn",
    "ip_address",
    "secret",
    "injection",
    "denied_topic",
    "token_limit",
]
ActionName = Literal["block", "redact", "flag"]
StageName = Literal["input", "context", "output"]
VerdictName = Literal["allowed", "blocked"]
PolicyScope = Literal["organization", "project"]

DETECTORS: Final[tuple[str, ...]] = get_args(DetectorName)
STAGES: Final[tuple[str, ...]] = get_args(StageName)
MAX_CHECK_CHARS: Final = 100_000
# A score or a count has no span to replace: these detectors can only block or flag.
_NO_REDACT: Final = frozenset({"injection", "token_limit"})


def _all_stages() -> list[StageName]:
    return ["input", "context", "output"]


class DetectorRuleBody(Input):
    """What one detector does; a field left out keeps that detector's default (or inherits)."""

    enabled: Bool = True
    action: ActionName = "redact"
    stages: list[StageName] = Field(default_factory=_all_stages, max_length=3)


# A denied keyword or topic: at most 200 characters as sent (the server also folds its spaces).
Keyword = Annotated[str, Field(max_length=200, pattern=NUL_FREE)]


def _policy_schema(schema: dict[str, Any]) -> None:
    # The document states the rule ``_actions_fit`` enforces: a detector without spans to
    # replace (injection, token_limit) takes ``block`` or ``flag``, never ``redact``.
    # Written out in full (not allOf over the shared rule): client generators merge allOf
    # poorly, and this is the shape a client should build for these two.
    rules = {}
    for name in sorted(_NO_REDACT):
        rule = DetectorRuleBody.model_json_schema()
        rule["title"] = f"{name.title().replace('_', '')}RuleBody"
        rule["properties"]["action"] = {"type": "string", "enum": ["block", "flag"]}
        rules[name] = rule
    schema["properties"]["detectors"]["properties"] = rules


class GuardrailPolicyBody(Input):
    """An organization's or a project's guardrail policy; every field is optional.

    Defaults when nothing sets a field: PII and secrets redacted on every stage, injections
    (score >= 0.5) blocked on input and context, denied topics blocked, no token limits.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_policy_schema)

    detectors: dict[DetectorName, DetectorRuleBody] = Field(default_factory=dict)
    injection_threshold: Float = Field(0.5, ge=0.0, le=1.0)
    denied_topics: dict[Keyword, list[Keyword]] = Field(default_factory=dict)
    denied_keywords: list[Keyword] = Field(default_factory=list, max_length=1000)
    max_input_tokens: Annotated[int, Field(gt=0, le=MAX_TOKENS), JSON_NUMBER] | None = None
    max_output_tokens: Annotated[int, Field(gt=0, le=MAX_TOKENS), JSON_NUMBER] | None = None

    @model_validator(mode="after")
    def _actions_fit(self) -> GuardrailPolicyBody:
        for name, rule in self.detectors.items():
            if name in _NO_REDACT and "action" in rule.model_fields_set and rule.action == "redact":
                raise ValueError(f"{name} can only block or flag")
        return self


class GuardrailPolicyRead(Output):
    """A stored policy. ``policy`` holds only the fields it sets; ``stored`` is false (and
    ``policy`` empty) when the scope has none: the organization then uses the defaults, and a
    project inherits the organization's policy."""

    scope: PolicyScope
    project_id: uuid.UUID | None = None
    stored: bool
    policy: dict[str, Any]
    updated_at: datetime | None = None


class DetectorRuleRead(Output):
    enabled: bool
    action: ActionName
    stages: list[StageName]


class ResolvedPolicy(Output):
    """A policy with every field resolved: every detector's rule, thresholds and limits."""

    detectors: dict[str, DetectorRuleRead]
    injection_threshold: float
    denied_topics: dict[str, list[str]]
    denied_keywords: list[str]
    max_input_tokens: int | None
    max_output_tokens: int | None


class GuardrailEffectiveRead(Output):
    """The policy that applies: defaults, then the organization's policy, then the project's."""

    project_id: uuid.UUID | None = None
    policy: ResolvedPolicy


class GuardrailCheck(Input):
    """A text to test against the effective policy of the organization or of a project."""

    # Spans in the answer index the text as sent: never strip it.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    text: RawText = Field(max_length=MAX_CHECK_CHARS)
    stage: StageName = "input"
    project_id: uuid.UUID | None = None


class GuardrailFindingRead(Output):
    """One hit, without the matched text. ``start``/``end`` index the text as sent; they are
    None for whole-text detectors (injection, token limit). ``label`` names the sub-kind
    (e.g. ``aws_access_key``), the denied topic, or the injection signals."""

    detector: str
    action: ActionName
    label: str = ""
    start: int | None = None
    end: int | None = None
    score: float | None = None


class GuardrailCheckResult(Output):
    """The verdict on a text; ``text`` is the text with redactions applied."""

    stage: StageName
    verdict: VerdictName
    text: str
    findings: list[GuardrailFindingRead]
    injection_score: float | None = None
    token_count: int | None = None
    blocked: bool
    flagged: bool
