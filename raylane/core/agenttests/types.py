"""What a target answers and what the scoring makes of it: plain data shared by the targets,
the assertions, the runner and the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class Citation:
    index: int
    document_id: str | None = None
    document_name: str | None = None


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass
class Observation:
    """One answer of a target to one case."""

    output: str
    latency_ms: float
    output_tokens: int | None = None
    citations: list[Citation] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    input_blocked: bool = False
    output_redacted: bool = False


class TargetError(Exception):
    """A target could not answer (timeout, HTTP error, refused connection, a bad answer).

    ``transient``: worth retrying (connection refused or reset, 429, 502, 503, 504);
    a timeout or a 500 is the answer for that case and is not retried."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class Target(Protocol):
    """Something a case is asked of."""

    async def answer(
        self,
        messages: list[dict[str, str]],
        *,
        variables: dict[str, Any],
        context: str | None,
        timeout_s: float,
    ) -> Observation:
        """The target's answer to ``messages`` (role/content dicts, variables substituted).

        Raises:
            TargetError: the target failed to answer.
        """
        ...


@dataclass(frozen=True)
class Judgement:
    score: float  # 0..1
    reasoning: str


class Scorers(Protocol):
    """The models some assertions need, provided by the host (the platform's embedder and LLM
    in a run, stubs in unit tests)."""

    async def similarity(self, text: str, reference: str) -> float:
        """Cosine similarity of the two texts' embeddings."""
        ...

    async def judge(
        self, rubric: str, conversation: list[dict[str, str]], output: str
    ) -> Judgement:
        """A model's score (0..1) of ``output`` against ``rubric``, with its reasoning."""
        ...


@dataclass(frozen=True)
class Verdict:
    type: str
    passed: bool
    score: float  # 0..1
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


CaseStatus = Literal["passed", "failed", "error"]


@dataclass
class CaseResult:
    case_id: str
    status: CaseStatus
    score: float
    weight: float
    tags: list[str]
    output: str = ""
    verdicts: list[Verdict] = field(default_factory=list)
    latency_ms: float | None = None
    output_tokens: int | None = None
    attempts: int = 1
    error: str | None = None
