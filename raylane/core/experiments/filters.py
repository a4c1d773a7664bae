"""The run filter language: clauses joined by ``and``, e.g.
``metric.accuracy > 0.8 and tag.team = 'nlp' and status = 'finished'``.

- ``metric.<key> <op> <number>`` with ``<op>`` one of ``> >= < <= = !=``: the metric's latest
  value (a run without that metric never matches);
- ``param.<key> = '<text>'`` / ``!=``, ``tag.<key> = '<text>'`` / ``!=`` (a run without the key
  is "not equal");
- ``status = '<status>'`` / ``!=``.

A key is letters, digits, ``_ - /``; any other key is written in backquotes
(``metric.`val loss` < 0.3``). Text is single- or double-quoted, ``\\`` escapes a quote. The
shape is ``FILTER_PATTERN`` (the API document states it); anything else is a 422 naming what
could not be read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from raylane.errors import InvalidInput
from raylane.schemas.experiments import (
    FILTER_KEY,
    FILTER_NUMBER,
    FILTER_PATTERN,
    FILTER_TEXT,
)

_FILTER = re.compile(FILTER_PATTERN)
_CLAUSE = re.compile(
    rf" *(?P<kind>metric|param|tag|status)(?:\.(?P<key>{FILTER_KEY}))?"
    rf" *(?P<op>>=|<=|!=|>|<|=) *(?P<value>{FILTER_NUMBER}|{FILTER_TEXT}) *"
)
# A clause ends where " and " starts outside quotes and backquotes.
_PART = re.compile(
    rf"(?P<sep> +and +)|(?P<clause>(?:{FILTER_TEXT}|`[^`]*`|(?! +and +).)+)", re.DOTALL
)


@dataclass(frozen=True)
class Clause:
    kind: str  # metric | param | tag | status
    key: str | None
    op: str
    value: float | str


def parse(text: str | None) -> list[Clause]:
    """Parse a filter; None means no filter.

    Raises:
        InvalidInput: the filter does not have the shape of ``FILTER_PATTERN``.
    """
    if text is None:
        return []
    if _FILTER.fullmatch(text) is None:
        raise InvalidInput(
            f"filter: cannot read {text.strip()[:200]!r}; write e.g. "
            "metric.accuracy > 0.8 and tag.team = 'nlp' and status = 'finished'"
        )
    return [_clause(m["clause"]) for m in _PART.finditer(text) if m["clause"]]


def _clause(part: str) -> Clause:
    match = _CLAUSE.fullmatch(part)
    if match is None:  # the whole filter matched, so each clause does
        raise InvalidInput(f"filter: cannot read {part.strip()[:200]!r}")
    kind, op, raw, key = match["kind"], match["op"], match["value"], match["key"]
    if key is not None and key.startswith("`"):
        key = key[1:-1]
    if kind == "metric":
        return Clause(kind, key, op, float(raw))
    text = re.sub(r"\\(.)", r"\1", raw[1:-1], flags=re.DOTALL)
    return Clause(kind, key, op, text)
