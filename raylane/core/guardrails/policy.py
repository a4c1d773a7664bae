"""Guardrail policies (per organization, per project) and their evaluation on one text.

A policy says which detectors run, on which stages (user input, retrieved context, model
output), and what each does on a hit: ``block`` the text, ``redact`` the span with a typed
placeholder, or ``flag`` it for review. Only the fields a policy sets explicitly count when
policies are merged, so a project can change one detector's action and inherit the rest.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from raylane.config import get_settings
from raylane.core.guardrails.detectors import PII_TYPES, Finding, detect_pii, redact
from raylane.core.guardrails.injection import DEFAULT_THRESHOLD, score_injection


class Action(StrEnum):
    BLOCK = "block"
    REDACT = "redact"
    FLAG = "flag"


class Stage(StrEnum):
    INPUT = "input"
    CONTEXT = "context"
    OUTPUT = "output"


class Verdict(StrEnum):
    ALLOWED = "allowed"
    BLOCKED = "blocked"


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
DETECTOR_NAMES: tuple[str, ...] = get_args(DetectorName)
# A score or a count has no span to replace, so these can only block or flag.
_NO_REDACT = frozenset({"injection", "token_limit"})
TokenCounter = Callable[[str], int]


class DetectorRule(BaseModel):
    """What one detector does. Unset fields fall back to that detector's default rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    action: Action = Action.REDACT
    stages: frozenset[Stage] = frozenset(Stage)


_ALL = frozenset(Stage)
DEFAULT_RULES: dict[str, DetectorRule] = {name: DetectorRule() for name in PII_TYPES} | {
    "injection": DetectorRule(action=Action.BLOCK, stages=frozenset({Stage.INPUT, Stage.CONTEXT})),
    "denied_topic": DetectorRule(action=Action.BLOCK, stages=_ALL),
    "token_limit": DetectorRule(action=Action.BLOCK, stages=frozenset({Stage.INPUT, Stage.OUTPUT})),
}


def _clean_keywords(words: Iterable[str]) -> list[str]:
    out: list[str] = []
    for word in words:
        word = " ".join(word.split())
        if len(word) > 200:
            raise ValueError("a denied keyword is longer than 200 characters")
        if word and word.casefold() not in {w.casefold() for w in out}:
            out.append(word)
    return out


class GuardrailPolicy(BaseModel):
    """Guardrail settings for an organization or a project.

    ``detectors`` maps a detector name to its rule; a missing name uses ``DEFAULT_RULES``
    (PII and secrets redacted everywhere, injections blocked on input and context).
    ``denied_topics`` maps a topic name to the keywords that reveal it.
    """

    model_config = ConfigDict(extra="forbid")

    detectors: dict[DetectorName, DetectorRule] = Field(default_factory=dict)
    injection_threshold: float = Field(DEFAULT_THRESHOLD, ge=0.0, le=1.0)
    denied_topics: dict[str, list[str]] = Field(default_factory=dict)
    denied_keywords: list[str] = Field(default_factory=list, max_length=1000)
    max_input_tokens: int | None = Field(None, gt=0)
    max_output_tokens: int | None = Field(None, gt=0)

    @field_validator("detectors")
    @classmethod
    def _actions_fit(cls, rules: dict[str, DetectorRule]) -> dict[str, DetectorRule]:
        for name, rule in rules.items():
            explicit = "action" in rule.model_fields_set
            if name in _NO_REDACT and explicit and rule.action is Action.REDACT:
                raise ValueError(f"{name} can only block or flag")
        return rules

    @field_validator("denied_keywords")
    @classmethod
    def _keywords(cls, words: list[str]) -> list[str]:
        return _clean_keywords(words)

    @field_validator("denied_topics")
    @classmethod
    def _topics(cls, topics: dict[str, list[str]]) -> dict[str, list[str]]:
        return {name.strip(): _clean_keywords(words) for name, words in topics.items()}

    def rule(self, name: str) -> DetectorRule:
        """The effective rule for ``name``: its default, overridden by the fields set here."""
        configured = self.detectors.get(name)  # type: ignore[call-overload]
        default = DEFAULT_RULES[name]
        if configured is None:
            return default
        return default.model_copy(update=configured.model_dump(exclude_unset=True))

    def active(self, name: str, stage: Stage) -> DetectorRule | None:
        """The rule for ``name`` if it is enabled on ``stage``, else None."""
        rule = self.rule(name)
        return rule if rule.enabled and stage in rule.stages else None


def effective_policy(
    org_policy: GuardrailPolicy | None, project_policy: GuardrailPolicy | None
) -> GuardrailPolicy:
    """Merge an organization's policy with a project's; the project wins where it speaks.

    Only explicitly set fields count. Detector rules merge field by field (a project that
    sets ``{"email": {"action": "block"}}`` keeps the organization's stages for email);
    ``denied_topics`` merge per topic (an empty keyword list removes a topic); every other
    field set by the project replaces the organization's value.

    Args:
        org_policy: the organization-wide policy, or None.
        project_policy: the project's policy, or None.

    Returns:
        A new policy whose set fields are the union of both.
    """
    merged: dict[str, Any] = {}
    for layer in (org_policy, project_policy):
        if layer is None:
            continue
        for key, value in layer.model_dump(exclude_unset=True).items():
            if key == "detectors":
                rules = merged.setdefault("detectors", {})
                for name, rule in value.items():
                    rules[name] = {**rules.get(name, {}), **rule}
            elif key == "denied_topics":
                merged["denied_topics"] = {**merged.get("denied_topics", {}), **value}
            else:
                merged[key] = value
    return GuardrailPolicy.model_validate(merged)


# --------------------------------------------------------------------------- evaluation


class GuardrailFinding(BaseModel):
    """One hit, without the matched text (results end up in logs and audit events).

    ``start``/``end`` index the text as given to ``evaluate``, not the redacted one; they are
    None for whole-text detectors (injection, token limit).
    """

    model_config = ConfigDict(frozen=True)

    detector: str
    action: Action
    label: str = ""
    start: int | None = None
    end: int | None = None
    score: float | None = None


class GuardrailResult(BaseModel):
    """Outcome of ``evaluate``: verdict, the text with redactions applied, and the hits.

    When ``verdict`` is blocked, ``text`` still carries the redactions so it can be logged,
    but it must not be passed on.
    """

    stage: Stage
    verdict: Verdict
    text: str
    findings: list[GuardrailFinding] = Field(default_factory=list)
    injection_score: float | None = None
    token_count: int | None = None

    @property
    def blocked(self) -> bool:
        return self.verdict is Verdict.BLOCKED

    @property
    def flagged(self) -> bool:
        return any(f.action is Action.FLAG for f in self.findings)

    def by_detector(self) -> dict[str, list[GuardrailFinding]]:
        """Findings grouped by detector name."""
        out: dict[str, list[GuardrailFinding]] = {}
        for f in self.findings:
            out.setdefault(f.detector, []).append(f)
        return out

    def by_action(self) -> dict[Action, list[GuardrailFinding]]:
        """Findings grouped by the action taken."""
        out: dict[Action, list[GuardrailFinding]] = {}
        for f in self.findings:
            out.setdefault(f.action, []).append(f)
        return out


_TOKEN = re.compile(r"\w+|[^\w\s]")


def approx_token_count(text: str) -> int:
    """Rough token count: words and punctuation marks (BPE counts run ~1-1.5x this)."""
    return len(_TOKEN.findall(text))


@functools.lru_cache(maxsize=256)
def _keyword_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first so "credit card fraud" wins over "credit card"; any run of whitespace
    # inside a phrase matches, and the edges must not touch a word character.
    alts = sorted((r"\s+".join(map(re.escape, w.split())) for w in words), key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(alts) + r")(?!\w)", re.IGNORECASE)


def _denied_matches(policy: GuardrailPolicy, text: str) -> list[Finding]:
    """Denied keyword hits, labeled with their topic ("keyword" for the plain list)."""
    owners: dict[str, str] = {}
    for topic, words in policy.denied_topics.items():
        for word in words:
            owners.setdefault(" ".join(word.casefold().split()), topic)
    for word in policy.denied_keywords:
        owners.setdefault(" ".join(word.casefold().split()), "keyword")
    if not owners:
        return []
    pattern = _keyword_pattern(tuple(sorted(owners)))
    return [
        Finding(
            "denied_topic",
            m.start(),
            m.end(),
            m.group(0),
            1.0,
            owners[" ".join(m.group(0).casefold().split())],
        )
        for m in pattern.finditer(text)
    ]


def _limit_for(policy: GuardrailPolicy, stage: Stage) -> int | None:
    if stage is Stage.INPUT:
        return policy.max_input_tokens
    return policy.max_output_tokens if stage is Stage.OUTPUT else None


def _span_findings(
    policy: GuardrailPolicy, text: str, stage: Stage
) -> tuple[list[GuardrailFinding], list[Finding]]:
    """PII/secret and denied-keyword hits, and the spans among them to redact."""
    actions = {n: r.action for n in PII_TYPES if (r := policy.active(n, stage)) is not None}
    hits = detect_pii(text, actions) if actions else []
    denied = policy.active("denied_topic", stage)
    if denied is not None:
        actions["denied_topic"] = denied.action
        hits += _denied_matches(policy, text)
    findings: list[GuardrailFinding] = []
    to_redact: list[Finding] = []
    for hit in sorted(hits, key=lambda h: (h.start, h.start - h.end)):
        action = actions[hit.type]
        findings.append(
            GuardrailFinding(
                detector=hit.type, action=action, label=hit.label, start=hit.start, end=hit.end
            )
        )
        # A keyword inside an already redacted span needs no second placeholder.
        if action is Action.REDACT and (not to_redact or hit.start >= to_redact[-1].end):
            to_redact.append(hit)
    return findings, to_redact


def _token_check(
    policy: GuardrailPolicy, text: str, stage: Stage, counter: TokenCounter | None
) -> tuple[GuardrailFinding | None, int | None]:
    rule, limit = policy.active("token_limit", stage), _limit_for(policy, stage)
    if rule is None or limit is None:
        return None, None
    count = (counter or approx_token_count)(text)
    if count <= limit:
        return None, count
    return GuardrailFinding(
        detector="token_limit", action=rule.action, label=f"{count}>{limit}"
    ), count


def _injection_check(
    policy: GuardrailPolicy, text: str, stage: Stage
) -> tuple[GuardrailFinding | None, float | None]:
    rule = policy.active("injection", stage)
    if rule is None:
        return None, None
    result = score_injection(
        text,
        threshold=policy.injection_threshold,
        learned=get_settings().guardrails.learned_injection,
    )
    if not result.is_injection:
        return None, result.score
    label = ",".join(s.name for s in result.signals)
    finding = GuardrailFinding(
        detector="injection", action=rule.action, score=result.score, label=label
    )
    return finding, result.score


def evaluate(
    policy: GuardrailPolicy,
    text: str,
    *,
    stage: Stage | Literal["input", "context", "output"],
    token_counter: TokenCounter | None = None,
) -> GuardrailResult:
    """Apply ``policy`` to one text at one stage.

    Args:
        policy: the effective policy (see ``effective_policy``).
        text: the user input, one retrieved context chunk, or the model output.
        stage: which of the three the text is; detectors not enabled for it are skipped.
        token_counter: counts tokens for the max_input/max_output limits;
            ``approx_token_count`` by default. The context stage has no limit.

    Returns:
        ``blocked`` if any enabled detector with action ``block`` fired, else ``allowed``;
        the text with every ``redact`` hit replaced by its placeholder; all findings.
    """
    stage = Stage(stage)
    findings, to_redact = _span_findings(policy, text, stage)
    limit_hit, token_count = _token_check(policy, text, stage, token_counter)
    injection_hit, injection_score = _injection_check(policy, text, stage)
    findings += [f for f in (limit_hit, injection_hit) if f is not None]
    blocked = any(f.action is Action.BLOCK for f in findings)
    return GuardrailResult(
        stage=stage,
        verdict=Verdict.BLOCKED if blocked else Verdict.ALLOWED,
        text=redact(text, to_redact),
        findings=findings,
        injection_score=injection_score,
        token_count=token_count,
    )


def evaluate_turns(
    policy: GuardrailPolicy,
    texts: list[str],
    *,
    stage: Stage | Literal["input", "context", "output"],
    token_counter: TokenCounter | None = None,
) -> tuple[GuardrailResult, list[str]]:
    """Apply ``policy`` to several texts that reach the model together (every turn a client
    sent: history, its own system turns, the question), so no turn goes unchecked.

    Every detector runs on each text on its own (an injection in an early turn blocks like one
    in the last); the token limit applies to their total, since the model reads them all.

    Args:
        policy: the effective policy.
        texts: the turns' contents, in order; the last is the question.
        stage: normally ``input``.
        token_counter: as for ``evaluate``.

    Returns:
        One result for them all (verdict, every finding, the total token count; ``text`` is the
        last text with its redactions; findings' ``start``/``end`` index the turn they were
        found in), and each text with its redactions applied.
    """
    stage = Stage(stage)
    per_turn = policy.model_copy(update={"max_input_tokens": None, "max_output_tokens": None})
    results = [evaluate(per_turn, text, stage=stage) for text in texts]
    findings = [f for r in results for f in r.findings]
    rule, limit = policy.active("token_limit", stage), _limit_for(policy, stage)
    total: int | None = None
    if rule is not None and limit is not None:
        total = sum((token_counter or approx_token_count)(text) for text in texts)
        if total > limit:
            findings.append(
                GuardrailFinding(
                    detector="token_limit", action=rule.action, label=f"{total}>{limit}"
                )
            )
    scores = [r.injection_score for r in results if r.injection_score is not None]
    blocked = any(f.action is Action.BLOCK for f in findings)
    combined = GuardrailResult(
        stage=stage,
        verdict=Verdict.BLOCKED if blocked else Verdict.ALLOWED,
        text=results[-1].text if results else "",
        findings=findings,
        injection_score=max(scores) if scores else None,
        token_count=total,
    )
    return combined, [r.text for r in results]
