"""Suite documents: parse YAML or JSON text into a validated ``SuiteDocument``, with errors that
name the case and the field; render a case's messages; a digest that ignores formatting.

Everything a run could only discover late is checked here, at upload: regular expressions
compile, JSON Schemas are valid, every ``{{variable}}`` in a message is defined.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jsonschema
import regex
import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from raylane.errors import InvalidInput
from raylane.schemas.agent_tests import (
    ASSERTION_TYPES,
    ArgumentMatch,
    Assertion,
    Case,
    ChatMessage,
    JsonMatch,
    Regex,
    SuiteDefaults,
    SuiteDocument,
    ToolCalls,
)

MAX_CASES = 5000
MAX_LISTED = 10  # errors listed in the message; all of them are in ``errors``
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")

_CLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_CLoader):  # type: ignore[misc]
    """The safe loader, less two YAML 1.1 surprises: dates stay text (``value: 2026-05-01`` is
    a string to look for, not a datetime) and only true/false are booleans (``value: no`` is
    the word "no")."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, pattern)
        for tag, pattern in resolvers
        if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")
    ]
    for first, resolvers in _CLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


# --- parsing ---------------------------------------------------------------------------------


def parse(text: str) -> SuiteDocument:
    """The validated suite document in ``text`` (YAML or JSON).

    Raises:
        InvalidInput: the text is not YAML, not a mapping, too large, uses YAML aliases, or
            does not validate; ``errors`` lists each problem as ``{case, index, field,
            message}`` and the detail names the first ten, one per line.
    """
    data = _load(text)
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {_kind(data)}"
        message = f"a suite document is a mapping with 'cases' (this one is {kind})"
        raise InvalidInput(message, errors=[_error(None, None, "", message)])
    cases = data.get("cases")
    if isinstance(cases, list) and len(cases) > MAX_CASES:
        message = f"at most {MAX_CASES} cases in a suite (this one has {len(cases)})"
        raise InvalidInput(message, errors=[_error(None, None, "cases", message)])

    problems: list[dict[str, Any]] = []
    doc: SuiteDocument | None = None
    try:
        doc = SuiteDocument.model_validate(data)
    except ValidationError as exc:
        problems.extend(_from_pydantic(exc, data))
    problems.extend(_semantic_problems(data))
    problems.sort(key=lambda p: -1 if p["index"] is None else p["index"])
    # The document's own duplicate check names no case; ours (above) names both.
    problems = [p for p in problems if not (p["field"] == "" and "used twice" in p["message"])]
    if problems:
        # The human lines show each assertion's type; the structured field is a plain path.
        public = [{**p, "field": re.sub(r"<[^>]*>", "", p["field"])} for p in problems]
        raise InvalidInput(_summary(problems), errors=public)
    assert doc is not None
    return doc


def _load(text: str) -> Any:
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        # JSON is YAML, but the JSON parser is much faster on a large document; YAML then
        # reports the position of whatever JSON refused.
        try:
            return json.loads(text)
        except ValueError:
            pass
    try:
        # Refuse aliases outright: a few lines of anchors can expand to gigabytes (the
        # "billion laughs"), and a suite has no need to share nodes. No "*", no alias.
        for event in yaml.parse(text, Loader=_Loader) if "*" in text else ():
            if isinstance(event, yaml.AliasEvent):
                message = f"YAML aliases (*{event.anchor}) are not allowed in a suite"
                if event.start_mark is not None:
                    message += f" (line {event.start_mark.line + 1})"
                raise InvalidInput(message, errors=[_error(None, None, "", message)])
        return yaml.load(text, Loader=_Loader)  # _Loader is a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        message = f"the suite is not valid YAML{where}: {problem}"
        raise InvalidInput(message, errors=[_error(None, None, "", message)]) from None
    except yaml.YAMLError as exc:
        message = f"the suite is not valid YAML: {exc}"
        raise InvalidInput(message, errors=[_error(None, None, "", message)]) from None


def _kind(value: object) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def _error(case: str | None, index: int | None, field: str, message: str) -> dict[str, Any]:
    return {"case": case, "index": index, "field": field, "message": message}


def _case_id(raw: Any) -> str | None:
    value = raw.get("id") if isinstance(raw, dict) else None
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def _from_pydantic(exc: ValidationError, data: dict[str, Any]) -> list[dict[str, Any]]:
    cases = data.get("cases")
    raw_cases: list[Any] = cases if isinstance(cases, list) else []
    out = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        index: int | None = None
        case: str | None = None
        if len(loc) >= 2 and loc[0] == "cases" and isinstance(loc[1], int):
            index = loc[1]
            case = _case_id(raw_cases[index]) if index < len(raw_cases) else None
            loc = loc[2:]
        out.append(_error(case, index, _field(loc), _message(err)))
    return out


def _field(loc: Sequence[Any]) -> str:
    """``('assert', 1, 'contains', 'value')`` → ``assert[1].value``: the assertion's type in a
    location is the union's tag, not a field (the human form shows it in brackets)."""
    parts: list[str] = []
    previous: Any = None
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif isinstance(previous, int) and part in ASSERTION_TYPES:
            parts.append(f"<{part}>")
        else:
            parts.append(f".{part}" if parts else str(part))
        previous = part
    return "".join(parts)


def _message(err: Mapping[str, Any]) -> str:
    kind, msg = err.get("type", ""), str(err.get("msg", ""))
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field missing"
    if kind == "union_tag_invalid":
        tag = (err.get("ctx") or {}).get("tag", "")
        return f"unknown assertion type {tag!r} (one of: {', '.join(ASSERTION_TYPES)})"
    if kind == "union_tag_not_found":
        return f"an assertion needs a 'type' (one of: {', '.join(ASSERTION_TYPES)})"
    if kind == "model_type":
        return f"expected a mapping, got {_kind(err.get('input'))}"
    return msg.removeprefix("Value error, ")


def _human(problem: Mapping[str, Any]) -> str:
    segments = []
    if problem["index"] is not None:
        ident = f' (id "{problem["case"]}")' if problem["case"] is not None else ""
        segments.append(f"cases[{problem['index']}]{ident}")
    # assert[1]<contains>.value → "assert[1] (contains)", "value"
    field = problem["field"]
    for piece in re.split(r"(?<=>)\.?", field):
        if piece:
            segments.append(re.sub(r"<([^>]*)>$", r" (\1)", piece))
    where = " → ".join(segments)
    return f"{where}: {problem['message']}" if where else problem["message"]


def _summary(problems: list[dict[str, Any]]) -> str:
    lines = [_human(p) for p in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        lines.append(f"... and {len(problems) - MAX_LISTED} more")
    head = "the suite is invalid" if len(problems) > 1 else ""
    return "\n".join([f"{head} ({len(problems)} errors):", *lines] if head else lines)


# --- checks the schema cannot make -----------------------------------------------------------


def _semantic_problems(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Duplicate ids, regular expressions, JSON Schemas and variables, for every part that
    validates on its own (so one broken case does not hide another's problems)."""
    problems: list[dict[str, Any]] = []
    defaults = data.get("defaults")
    if isinstance(defaults, dict):
        parsed = _validated(SuiteDefaults, defaults)
        if isinstance(parsed, SuiteDefaults):
            for i, assertion in enumerate(parsed.assertions):
                for field, message in _assertion_problems(assertion):
                    problems.append(_error(None, None, f"defaults.assert[{i}]{field}", message))
    raw_cases = data.get("cases")
    first_seen: dict[str, int] = {}
    for index, raw in enumerate(raw_cases if isinstance(raw_cases, list) else []):
        parsed_case = _validated(Case, raw)
        case_id = parsed_case.id if isinstance(parsed_case, Case) else _case_id(raw)
        if case_id is not None:
            if case_id in first_seen:
                message = f"id {case_id!r} is used twice (first by cases[{first_seen[case_id]}])"
                problems.append(_error(case_id, index, "id", message))
            first_seen.setdefault(case_id, index)
        if isinstance(parsed_case, Case):
            checks = _case_problems(parsed_case, shorthand=isinstance(raw.get("input"), str))
        else:  # still check the assertions that validate on their own
            checks = _loose_assertion_problems(raw)
        for field, message in checks:
            problems.append(_error(case_id, index, field, message))
    return problems


_ASSERTION: TypeAdapter[Any] = TypeAdapter(Assertion)


def _loose_assertion_problems(raw: Any) -> Iterable[tuple[str, str]]:
    items = raw.get("assert") if isinstance(raw, dict) else None
    for i, item in enumerate(items if isinstance(items, list) else []):
        try:
            assertion = _ASSERTION.validate_python(item)
        except ValidationError:
            continue
        for field, message in _assertion_problems(assertion):
            yield f"assert[{i}]{field}", message


def _validated(model: type[BaseModel], raw: Any) -> BaseModel | None:
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None  # reported by the whole document's validation


def _case_problems(case: Case, *, shorthand: bool) -> Iterable[tuple[str, str]]:
    for i, assertion in enumerate(case.assertions):
        for field, message in _assertion_problems(assertion):
            yield f"assert[{i}]{field}", message
    for i, chat in enumerate(case.messages):
        for name in _VARIABLE.findall(chat.content):
            if name not in case.vars:
                known = ", ".join(sorted(case.vars)) or "none"
                # name the field the author wrote: ``input`` became messages[0]
                field = "input" if shorthand else f"messages[{i}].content"
                yield field, f"unknown variable {{{{{name}}}}} (vars defined: {known})"


def _assertion_problems(assertion: Any) -> Iterable[tuple[str, str]]:
    tag = f"<{assertion.type}>"
    if isinstance(assertion, Regex):
        problem = regex_problem(assertion.pattern)
        if problem:
            yield f"{tag}.pattern", problem
    elif isinstance(assertion, JsonMatch) and assertion.json_schema is not None:
        problem = schema_problem(json.dumps(assertion.json_schema, sort_keys=True))
        if problem:
            yield f"{tag}.schema", problem
    elif isinstance(assertion, ToolCalls):
        for c, call in enumerate(assertion.calls):
            for name, matcher in call.arguments.items():
                if isinstance(matcher, ArgumentMatch):
                    problem = regex_problem(matcher.regex)
                    if problem:
                        yield f"{tag}.calls[{c}].arguments.{name}.regex", problem


@functools.lru_cache(maxsize=256)
def schema_problem(canonical: str) -> str | None:
    """Why the JSON Schema (as canonical JSON: suites repeat one schema in many cases, and
    checking a schema against its metaschema is slow) is not usable, or None."""
    schema = json.loads(canonical)
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "".join(f"[{p!r}]" for p in exc.path)
        return f"not a valid JSON Schema{' at ' + where if where else ''}: {exc.message}"
    for where, pattern in _schema_patterns(schema, ""):
        problem = regex_problem(pattern)
        if problem:
            return f"at {where}: {problem}"
    return None


def _schema_patterns(node: Any, where: str) -> Iterable[tuple[str, str]]:
    """The regular expressions of a schema (``pattern`` values, ``patternProperties`` keys),
    which the assertion runs with the same engine and timeout as a ``regex`` assertion."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield f"{where}['pattern']", value
            if key == "patternProperties" and isinstance(value, dict):
                for pattern in value:
                    yield f"{where}['patternProperties']", pattern
            yield from _schema_patterns(value, f"{where}[{key!r}]")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _schema_patterns(item, f"{where}[{i}]")


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable regular expression, or None."""
    try:
        regex.compile(pattern)
    except (regex.error, ValueError, OverflowError) as exc:
        return f"not a valid regular expression: {exc}"
    return None


# --- using a document ------------------------------------------------------------------------


def render(
    messages: Sequence[ChatMessage | Mapping[str, str]], variables: Mapping[str, Any]
) -> list[dict[str, str]]:
    """The messages as role/content dicts with ``{{name}}`` replaced by ``variables[name]``.

    Raises:
        InvalidInput: a message names a variable that ``variables`` lacks (``parse`` refuses
            such suites, so this only happens to messages built elsewhere).
    """

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise InvalidInput(f"unknown variable {{{{{name}}}}}", variable=name)
        item = variables[name]
        # YAML's true/false, not Python's True/False
        return ("true" if item else "false") if isinstance(item, bool) else str(item)

    out = []
    for message in messages:
        role, content = (
            (message.role, message.content)
            if isinstance(message, ChatMessage)
            else (message["role"], message["content"])
        )
        out.append({"role": role, "content": _VARIABLE.sub(value, content)})
    return out


def effective_assertions(doc: SuiteDocument, case: Case) -> list[Assertion]:
    """What the case is checked against: the suite's default assertions, then its own."""
    return [*doc.defaults.assertions, *case.assertions]


def digest(doc: SuiteDocument) -> str:
    """sha256 of the validated document's canonical JSON: the same suite has the same digest
    however it was written (YAML or JSON, key order, ``input`` or ``messages``)."""
    canonical = json.dumps(
        doc.model_dump(mode="json", by_alias=True),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
