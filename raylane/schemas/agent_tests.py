"""Agent tests: the suite document (YAML or JSON), targets, test runs and their results.

A suite document is what a team writes and versions::

    threshold: 0.8                  # the suite passes when its weighted score reaches this
    defaults: {timeout_s: 30, retries: 2, assert: [...]}   # assertions every case also gets
    cases:
      - id: launch-date
        messages: [{role: user, content: "When is the launch of {{product}}?"}]
        vars: {product: Raylane}
        tags: [facts]
        weight: 2
        assert:
          - {type: contains, value: May}
          - {type: latency, max_ms: 5000}

``input: "text"`` is shorthand for one user message. Each assertion's ``type`` picks its fields
(below); unknown fields are refused, so a typo is an error naming the case and the field, not a
check that silently never runs.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from raylane.schemas.common import HTTP_URL, NUL_FREE, Input, Output
from raylane.schemas.runs import RunRead

CASE_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


class _Doc(BaseModel):
    """A part of a suite document: unknown fields are errors."""

    # ``value: 2026`` or ``id: 42`` in YAML are numbers; they mean the text.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, coerce_numbers_to_str=True)


class Equals(_Doc):
    type: Literal["equals"]
    value: str
    ignore_case: bool = False


class Contains(_Doc):
    """``contains``: the output holds the value (or ``all`` / ``any`` of ``values``);
    ``not-contains``: it holds none of them (``mode: all``) or not every one (``mode: any``)."""

    type: Literal["contains", "not-contains"]
    value: str | None = None
    values: list[str] | None = Field(default=None, min_length=1)
    mode: Literal["all", "any"] = "all"
    ignore_case: bool = True

    @model_validator(mode="after")
    def _one_of(self) -> Contains:
        if (self.value is None) == (self.values is None):
            raise ValueError("give exactly one of 'value' or 'values'")
        return self

    @property
    def needles(self) -> list[str]:
        return [self.value] if self.value is not None else list(self.values or [])


class Regex(_Doc):
    type: Literal["regex"]
    pattern: str
    ignore_case: bool = False


class JsonMatch(_Doc):
    """The output parses as JSON and, when ``schema`` is given, is valid under it."""

    type: Literal["json"]
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")


class Similar(_Doc):
    """Cosine similarity of the output to ``reference`` under the platform's embedder."""

    type: Literal["similar"]
    reference: str
    threshold: float = Field(default=0.75, ge=-1, le=1)


class LlmJudge(_Doc):
    """A model scores the output against ``rubric`` from 0 to 1 (the copilot's model unless the
    run names a judge); its score and reasoning are kept."""

    type: Literal["llm-judge"]
    rubric: str = Field(min_length=1)
    threshold: float = Field(default=0.5, ge=0, le=1)


class Latency(_Doc):
    type: Literal["latency"]
    max_ms: float = Field(gt=0)


class Tokens(_Doc):
    """Output tokens as the target reports them (estimated from the text when it does not)."""

    type: Literal["tokens"]
    max: int = Field(ge=0)


class Guardrail(_Doc):
    """The platform's guardrails: was the input blocked, was the output redacted."""

    type: Literal["guardrail"]
    input_blocked: bool | None = None
    output_redacted: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> Guardrail:
        if self.input_blocked is None and self.output_redacted is None:
            raise ValueError("give 'input_blocked' or 'output_redacted'")
        return self


class Citations(_Doc):
    """At least ``min`` citations; with ``document``, one of them cites that document (by name
    or id)."""

    type: Literal["citations"]
    min: int = Field(default=1, ge=0)
    document: str | None = None


class ArgumentMatch(_Doc):
    """An argument's value matched by a pattern rather than equality."""

    regex: str


class ToolCallSpec(_Doc):
    name: str = Field(min_length=1)
    # Each listed argument must be present and equal (or match ``{regex: ...}``); others may be.
    arguments: dict[str, ArgumentMatch | Any] = Field(default_factory=dict)


class ToolCalls(_Doc):
    """The agent called these tools. ``order: strict``: in this order (others may come between);
    ``exact``: and no other calls."""

    type: Literal["tool-calls"]
    calls: list[ToolCallSpec] = Field(min_length=1)
    order: Literal["any", "strict"] = "any"
    exact: bool = False


Assertion = Annotated[
    Equals
    | Contains
    | Regex
    | JsonMatch
    | Similar
    | LlmJudge
    | Latency
    | Tokens
    | Guardrail
    | Citations
    | ToolCalls,
    Field(discriminator="type"),
]
ASSERTION_TYPES = [
    "equals",
    "contains",
    "not-contains",
    "regex",
    "json",
    "similar",
    "llm-judge",
    "latency",
    "tokens",
    "guardrail",
    "citations",
    "tool-calls",
]


class ChatMessage(_Doc):
    role: Literal["system", "user", "assistant"]
    content: str


class Case(_Doc):
    id: str = Field(pattern=CASE_ID)
    description: str | None = None
    messages: list[ChatMessage] = Field(default_factory=list)
    input: str | None = None  # shorthand for one user message
    vars: dict[str, str | int | float | bool] = Field(default_factory=dict)
    context: str | None = None  # extra text handed to HTTP agents' templates as {{context}}
    tags: list[str] = Field(default_factory=list)
    weight: float = Field(default=1.0, gt=0, le=1000)
    timeout_s: float | None = Field(default=None, gt=0, le=600)
    assertions: list[Assertion] = Field(default_factory=list, alias="assert")

    @model_validator(mode="after")
    def _has_input(self) -> Case:
        if self.input is not None and self.messages:
            raise ValueError("give 'input' or 'messages', not both")
        if self.input is not None:
            self.messages = [ChatMessage(role="user", content=self.input)]
            self.input = None
        if not self.messages or self.messages[-1].role != "user":
            raise ValueError("a case needs 'input', or 'messages' ending with a user message")
        return self


class SuiteDefaults(_Doc):
    timeout_s: float = Field(default=60.0, gt=0, le=600)
    retries: int = Field(default=2, ge=0, le=10)
    assertions: list[Assertion] = Field(default_factory=list, alias="assert")


class SuiteDocument(_Doc):
    description: str | None = None
    threshold: float = Field(default=1.0, ge=0, le=1)
    defaults: SuiteDefaults = Field(default_factory=SuiteDefaults)
    cases: list[Case] = Field(min_length=1, max_length=5000)

    @model_validator(mode="after")
    def _unique_ids(self) -> SuiteDocument:
        seen: set[str] = set()
        for case in self.cases:
            if case.id in seen:
                raise ValueError(f"case id {case.id!r} is used twice")
            seen.add(case.id)
        return self


# --- Targets ----------------------------------------------------------------------------------

TargetKind = Literal["copilot", "model", "openai", "http"]


class HttpTemplate(Input):
    """How to call an HTTP agent. ``body`` is a JSON value whose strings may hold ``{{input}}``
    (the last user message), ``{{messages}}`` (the whole list, as JSON), ``{{context}}`` and
    ``{{vars.NAME}}``; ``output`` is a dotted path into the JSON answer (``choices.0.text``),
    empty for the whole body as text; ``tool_calls`` a path to a list of ``{name, arguments}``."""

    method: Literal["POST", "PUT"] = "POST"
    body: Any = Field(default_factory=lambda: {"input": "{{input}}"})
    output: str = "output"
    tool_calls: str | None = None
    tokens: str | None = None


# --- The API's wire models ------------------------------------------------------------------------

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class SuiteCreate(Input):
    """A suite version: the document as YAML or JSON text. A new name creates the suite; an
    existing one gets a new version unless the text is the same as its latest (then that one
    is answered)."""

    name: Name
    content: str = Field(min_length=1, max_length=2_000_000, pattern=r"^[^\u0000]*$")


class SuiteVersionRead(Output):
    id: uuid.UUID
    suite_id: uuid.UUID
    version: int
    digest: str
    cases: int
    threshold: float
    created_at: datetime


class SuiteRead(Output):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    latest_version: int
    created_at: datetime


class SuiteVersionDetail(SuiteVersionRead):
    document: dict[str, Any]


HeaderName = Annotated[
    str, Field(min_length=1, max_length=100, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
]
HeaderValue = Annotated[str, Field(max_length=4000, pattern=r"^[^\u0000\r\n]*$")]


def _openai_needs_a_model(schema: dict[str, Any]) -> None:
    schema["if"] = {"properties": {"kind": {"const": "openai"}}, "required": ["kind"]}
    schema["then"] = {
        "required": ["model"],
        "properties": {"model": {"type": "string", "minLength": 1, "pattern": NUL_FREE}},
    }


class TargetCreate(Input):
    """An external agent to test: ``openai`` (an OpenAI-compatible chat endpoint: ``url`` is its
    base URL, ``model`` its model, required) or ``http`` (any JSON-over-HTTP agent, called as
    ``template`` says). ``secret_headers`` (e.g. ``Authorization``) are stored encrypted and
    never shown; a header named in both (in any case) is sent with its secret value."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_openai_needs_a_model)
    name: Name
    kind: Literal["openai", "http"]
    url: str = Field(min_length=1, max_length=2000, pattern=HTTP_URL)
    model: str | None = Field(default=None, max_length=200, pattern=r"^[^\u0000]*$")
    template: HttpTemplate | None = None
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict, max_length=32)
    secret_headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict, max_length=32)

    @model_validator(mode="after")
    def _model_for_openai(self) -> TargetCreate:
        if self.kind == "openai" and not self.model:
            raise ValueError("an openai target needs 'model'")
        return self


class TargetRead(Output):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    kind: str
    url: str
    model: str | None
    template: dict[str, Any] | None
    headers: dict[str, str]
    secret_header_names: list[str]  # the values are never returned
    created_at: datetime


class TestRunCreate(Input):
    """Run a suite version against a target.

    ``target``: ``copilot`` (this project's copilot), ``model:NAME@ALIAS`` or
    ``model:NAME:VERSION`` (a registered model), or ``target:NAME`` (a stored target)."""

    suite: Name
    version: Annotated[int, Field(ge=1)] | None = None  # default: the latest
    target: str = Field(min_length=1, max_length=300, pattern=r"^[^\u0000]*$")
    concurrency: int = Field(default=8, ge=1, le=64)
    max_attempts: int = Field(default=1, ge=1, le=10)
    tags: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list, max_length=50)


class AssertionResult(Output):
    type: str
    passed: bool
    score: float
    detail: str
    data: dict[str, Any] = Field(default_factory=dict)  # e.g. the judge's reasoning


class CaseResultRead(Output):
    case_id: str
    status: Literal["passed", "failed", "error"]
    score: float
    weight: float
    tags: list[str]
    output: str
    assertions: list[AssertionResult]
    latency_ms: float | None
    output_tokens: int | None
    attempts: int
    error: str | None


class TestSummary(Output):
    cases: int
    passed: int
    failed: int
    errors: int
    pass_rate: float
    score: float  # weighted
    threshold: float
    suite_passed: bool
    by_tag: dict[str, dict[str, float]]  # tag -> {cases, passed, pass_rate, score}
    latency_p50_ms: float | None
    latency_p95_ms: float | None


class CaseChange(Output):
    case_id: str
    before: str
    after: str
    score_delta: float
    latency_delta_ms: float | None


class TestComparison(Output):
    base_run_id: uuid.UUID
    head_run_id: uuid.UUID
    regressions: list[CaseChange]  # passed before, failed or error now
    fixes: list[CaseChange]
    score_delta: float
    pass_rate_delta: float
    latency_p50_delta_ms: float | None
    latency_p95_delta_ms: float | None
    added: list[str]  # case ids only in head
    removed: list[str]


class TestRunRead(RunRead):
    """A test run: the Run (status, attempts, live ``progress``: cases_total, cases_done,
    passed, failed, error) with what it runs and, once done, its summary."""

    suite: str
    suite_version: int
    target: str
    summary: TestSummary | None = None

    @classmethod
    def of(cls, run: Any) -> TestRunRead:
        base = RunRead.model_validate(run, from_attributes=True).model_dump()
        params = run.params or {}
        result = run.result or {}
        summary = (
            TestSummary.model_validate({k: result[k] for k in TestSummary.model_fields})
            if "pass_rate" in result
            else None
        )
        return cls(
            **base,
            suite=str(params.get("suite", "")),
            suite_version=int(params.get("suite_version", 0)),
            target=str(params.get("target", "")),
            summary=summary,
        )
