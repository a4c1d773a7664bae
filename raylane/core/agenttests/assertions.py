"""Each assertion kind's verdict on one observation, and a case's result from its verdicts.

Pure logic: the models that ``similar`` and ``llm-judge`` need come in as ``Scorers``.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import jsonschema
import regex

from raylane.core.agenttests import suite
from raylane.core.agenttests.types import CaseResult, Observation, Scorers, ToolCall, Verdict
from raylane.schemas.agent_tests import (
    ArgumentMatch,
    Citations,
    Contains,
    Equals,
    Guardrail,
    JsonMatch,
    Latency,
    LlmJudge,
    Regex,
    Similar,
    SuiteDocument,
    Tokens,
    ToolCalls,
    ToolCallSpec,
)
from raylane.schemas.agent_tests import Case as SuiteCase

# A tenant's pattern runs against a target's output inside a shared worker: a catastrophic
# backtracking pattern must fail its own assertion, not stall every case of the run.
REGEX_TIMEOUT_S = 1.0


def _short(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def _binary(kind: str, passed: bool, detail: str, **data: Any) -> Verdict:
    return Verdict(kind, passed, 1.0 if passed else 0.0, detail, data)


def search(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    """Whether ``pattern`` matches somewhere in ``text``.

    Raises:
        TimeoutError: the match ran past ``REGEX_TIMEOUT_S``.
    """
    flags = regex.IGNORECASE if ignore_case else 0
    return regex.search(pattern, text, flags, timeout=REGEX_TIMEOUT_S) is not None


def estimate_tokens(text: str) -> int:
    """Output tokens when the target reports none: about 4 tokens per 3 words."""
    return math.ceil(len(text.split()) * 4 / 3)


# --- deterministic kinds ---------------------------------------------------------------------


def _equals(a: Equals, output: str) -> Verdict:
    got, want = output.strip(), a.value.strip()
    if a.ignore_case:
        got, want = got.casefold(), want.casefold()
    if got == want:
        return _binary(a.type, True, "the output equals the expected text")
    return _binary(a.type, False, f"expected exactly {_short(a.value)}, got {_short(output)}")


def _contains(a: Contains, output: str) -> Verdict:
    needles = a.needles

    def fold(text: str) -> str:
        return text.casefold() if a.ignore_case else text

    haystack = fold(output)
    found = [n for n in needles if fold(n) in haystack]
    missing = [n for n in needles if fold(n) not in haystack]
    quoted = ", ".join(_short(n, 40) for n in (found if a.type == "not-contains" else missing))
    if a.type == "contains":
        passed = bool(found) if a.mode == "any" else not missing
        if passed:
            return _binary(a.type, True, f"found {', '.join(_short(n, 40) for n in found)}")
        if len(needles) == 1:
            return _binary(a.type, False, f"expected {_short(needles[0], 40)} in the output")
        if a.mode == "any":
            return _binary(a.type, False, f"none of {quoted} in the output")
        return _binary(a.type, False, f"missing {quoted} in the output")
    # not-contains: mode all = none of them may appear; any = not every one may appear
    passed = not found if a.mode == "all" else bool(missing)
    if passed:
        return _binary(a.type, True, "none of the forbidden text in the output")
    return _binary(a.type, False, f"found {quoted} in the output")


def _regex(a: Regex, output: str) -> Verdict:
    try:
        matched = search(a.pattern, output, ignore_case=a.ignore_case)
    except TimeoutError:
        return _binary(a.type, False, f"/{a.pattern}/ ran past {REGEX_TIMEOUT_S:g} s")
    if matched:
        return _binary(a.type, True, f"/{a.pattern}/ matches")
    return _binary(a.type, False, f"no match for /{a.pattern}/ in {_short(output)}")


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterable[Any]:
    if validator.is_type(instance, "string") and not search(pattern, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterable[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


@functools.cache
def _safe_validator(cls: Any) -> Any:
    """``cls`` with its schema's regular expressions run like a ``regex`` assertion's (with a
    timeout): the output they match comes from the target."""
    return jsonschema.validators.extend(
        cls, {"pattern": _pattern, "patternProperties": _pattern_properties}
    )


def _json(a: JsonMatch, output: str) -> Verdict:
    try:
        value = json.loads(output)
    except ValueError as exc:
        return _binary(a.type, False, f"not JSON: {exc}")
    if a.json_schema is None:
        return _binary(a.type, True, "valid JSON")
    validator = _safe_validator(jsonschema.validators.validator_for(a.json_schema))(a.json_schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return _binary(a.type, True, "valid JSON under the schema")
    where = error.json_path if error.path else "$"
    return _binary(a.type, False, f"at {where}: {error.message}")


def _latency(a: Latency, obs: Observation) -> Verdict:
    took = obs.latency_ms
    ok = took <= a.max_ms
    detail = f"took {took:.0f} ms {'≤' if ok else '>'} {a.max_ms:g} ms"
    return _binary(a.type, ok, detail, latency_ms=took)


def _tokens(a: Tokens, obs: Observation) -> Verdict:
    estimated = obs.output_tokens is None
    count = estimate_tokens(obs.output) if estimated else int(obs.output_tokens or 0)
    ok = count <= a.max
    note = " (estimated from the words)" if estimated else ""
    detail = f"{count} tokens {'≤' if ok else '>'} {a.max}{note}"
    return _binary(a.type, ok, detail, tokens=count, estimated=estimated)


def _guardrail(a: Guardrail, obs: Observation) -> Verdict:
    wrong = []
    if a.input_blocked is not None and a.input_blocked != obs.input_blocked:
        wrong.append(f"the input was {'' if obs.input_blocked else 'not '}blocked")
    if a.output_redacted is not None and a.output_redacted != obs.output_redacted:
        wrong.append(f"the output was {'' if obs.output_redacted else 'not '}redacted")
    if wrong:
        return _binary(a.type, False, "; ".join(wrong))
    return _binary(a.type, True, "the guardrails acted as expected")


def _citations(a: Citations, obs: Observation) -> Verdict:
    count = len(obs.citations)
    if count < a.min:
        return _binary(a.type, False, f"{count} citation(s) < {a.min}")
    if a.document is None:
        return _binary(a.type, True, f"{count} citation(s)")
    want = a.document
    for c in obs.citations:
        if c.document_id == want or (
            c.document_name is not None and c.document_name.casefold() == want.casefold()
        ):
            return _binary(a.type, True, f"cites {want!r}")
    cited = sorted({c.document_name or c.document_id or "?" for c in obs.citations})
    return _binary(a.type, False, f"no citation of {want!r} (cited: {', '.join(cited) or 'none'})")


# --- tool calls ------------------------------------------------------------------------------


def _argument_matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, ArgumentMatch):
        text = actual if isinstance(actual, str) else json.dumps(actual, sort_keys=True)
        return search(expected.regex, text)
    return bool(expected == actual)


def _call_matches(spec: ToolCallSpec, call: ToolCall) -> bool:
    return spec.name == call.name and all(
        name in call.arguments and _argument_matches(expected, call.arguments[name])
        for name, expected in spec.arguments.items()
    )


def _spec_text(spec: ToolCallSpec) -> str:
    args = ", ".join(
        f"{k}~/{v.regex}/" if isinstance(v, ArgumentMatch) else f"{k}={v!r}"
        for k, v in spec.arguments.items()
    )
    return f"{spec.name}({args})"


def _call_text(call: ToolCall) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in call.arguments.items())
    return f"{call.name}({args})"[:120]


def _assign(specs: Sequence[ToolCallSpec], calls: Sequence[ToolCall]) -> list[int | None]:
    """For each spec, a distinct call it matches (a maximum bipartite matching: a greedy
    choice can give a call to the wrong spec when two specs match it)."""
    matches = [[j for j, call in enumerate(calls) if _call_matches(s, call)] for s in specs]
    owner: dict[int, int] = {}  # call index -> spec index

    def claim(i: int, seen: set[int]) -> bool:
        for j in matches[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or claim(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(specs)):
        claim(i, set())
    assigned: list[int | None] = [None] * len(specs)
    for j, i in owner.items():
        assigned[i] = j
    return assigned


def _in_order(specs: Sequence[ToolCallSpec], calls: Sequence[ToolCall]) -> list[int | None]:
    """Each spec's call as a subsequence in order (the earliest match is always safe)."""
    assigned: list[int | None] = []
    position = 0
    for spec in specs:
        found = next(
            (j for j in range(position, len(calls)) if _call_matches(spec, calls[j])), None
        )
        assigned.append(found)
        position = found + 1 if found is not None else len(calls)
    return assigned


def _tool_calls(a: ToolCalls, obs: Observation) -> Verdict:
    calls = obs.tool_calls
    assigned = _in_order(a.calls, calls) if a.order == "strict" else _assign(a.calls, calls)
    made = ", ".join(_call_text(c) for c in calls) or "none"
    missing = [_spec_text(s) for s, j in zip(a.calls, assigned, strict=True) if j is None]
    if missing:
        how = " in order" if a.order == "strict" else ""
        return _binary(a.type, False, f"no call{how} to {', '.join(missing)} (calls: {made})")
    extra = len(calls) - len(a.calls)
    if a.exact and extra > 0:
        return _binary(a.type, False, f"{extra} call(s) beyond those expected (calls: {made})")
    return _binary(a.type, True, f"called {', '.join(_spec_text(s) for s in a.calls)}")


# --- model-scored kinds ----------------------------------------------------------------------


async def _similar(a: Similar, obs: Observation, scorers: Scorers) -> Verdict:
    similarity = float(await scorers.similarity(obs.output, a.reference))
    ok = similarity >= a.threshold
    return Verdict(
        a.type,
        ok,
        min(max(similarity, 0.0), 1.0),
        f"similarity {similarity:.2f} {'≥' if ok else '<'} {a.threshold:g}",
        {"similarity": similarity},
    )


async def _judge(a: LlmJudge, case: SuiteCase, obs: Observation, scorers: Scorers) -> Verdict:
    conversation = suite.render(case.messages, case.vars)
    judgement = await scorers.judge(a.rubric, conversation, obs.output)
    score = min(max(float(judgement.score), 0.0), 1.0)
    ok = score >= a.threshold
    reason = " ".join(judgement.reasoning.split())
    detail = f"judge score {score:.2f} {'≥' if ok else '<'} {a.threshold:g}"
    if reason:
        detail += f": {reason[:120]}"
    return Verdict(a.type, ok, score, detail, {"score": score, "reasoning": judgement.reasoning})


_SYNC: dict[type[Any], Callable[[Any, Observation], Verdict]] = {
    Equals: lambda a, o: _equals(a, o.output),
    Contains: lambda a, o: _contains(a, o.output),
    Regex: lambda a, o: _regex(a, o.output),
    JsonMatch: lambda a, o: _json(a, o.output),
    Latency: _latency,
    Tokens: _tokens,
    Guardrail: _guardrail,
    Citations: _citations,
    ToolCalls: _tool_calls,
}


async def evaluate(
    assertion: Any, case: SuiteCase, observation: Observation, scorers: Scorers
) -> Verdict:
    """One assertion's verdict on ``observation`` (exceptions propagate: ``score_case`` turns
    them into failed verdicts)."""
    if isinstance(assertion, Similar):
        return await _similar(assertion, observation, scorers)
    if isinstance(assertion, LlmJudge):
        return await _judge(assertion, case, observation, scorers)
    check = _SYNC.get(type(assertion))
    if check is None:
        raise TypeError(f"no evaluator for assertion type {assertion.type!r}")
    return check(assertion, observation)


async def score_case(
    doc: SuiteDocument, case: SuiteCase, observation: Observation, scorers: Scorers
) -> CaseResult:
    """Every assertion the case gets (the suite's defaults and its own) evaluated.

    Passed when all pass; the score is the mean of the verdicts' scores (1.0 with none). A
    scorer that fails fails its own verdict, with the reason, rather than the case."""
    verdicts = []
    for assertion in suite.effective_assertions(doc, case):
        try:
            verdict = await evaluate(assertion, case, observation, scorers)
        except Exception as exc:
            message = str(exc) or type(exc).__name__
            verdict = Verdict(assertion.type, False, 0.0, f"could not score: {message}"[:500])
        verdicts.append(verdict)
    passed = all(v.passed for v in verdicts)
    score = sum(v.score for v in verdicts) / len(verdicts) if verdicts else 1.0
    return CaseResult(
        case_id=case.id,
        status="passed" if passed else "failed",
        score=score,
        weight=case.weight,
        tags=list(case.tags),
        output=observation.output,
        verdicts=verdicts,
        latency_ms=observation.latency_ms,
        output_tokens=observation.output_tokens,
    )


def error_result(case: SuiteCase, message: str, attempts: int = 1) -> CaseResult:
    """A case the target could not answer: status ``error``, score 0."""
    return CaseResult(
        case_id=case.id,
        status="error",
        score=0.0,
        weight=case.weight,
        tags=list(case.tags),
        attempts=attempts,
        error=message,
    )
