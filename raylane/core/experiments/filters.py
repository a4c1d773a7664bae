"""The run filter language: clauses joined by ``and``, e.g.
``metric.accuracy > 0.8 and tag.team = 'nlp' and status = 'finished'``.

- ``metric.<key> <op> <number>`` with ``<op>`` one of ``> >= < <= = !=``: the metric's latest
  value (a run without that metric never matches);
- ``param.<key> = '<text>'`` / ``!=``, ``tag.<key> = '<text>'`` / ``!=``;
- ``status = '<status>'`` / ``!=``.

Keys are what a metric/param/tag key may be (letters, digits, ``_ - . / space``); a key with
spaces or dots is written in backquotes: ``metric.`val loss` < 0.3``. Anything else is a 422
naming the clause.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from raylane.errors import InvalidInput

OPS = (">=", "<=", "!=", ">", "<", "=")
MAX_CLAUSES = 20
_CLAUSE = re.compile(
    r"""^\s*(?P<kind>metric|param|tag|status)
        (?:\.(?:`(?P<qkey>[^`]{1,250})`|(?P<key>[A-Za-z0-9_\-/]{1,250})))?
        \s*(?P<op>>=|<=|!=|>|<|=)\s*
        (?P<value>'(?:[^'\\]|\\.){0,1000}'|"(?:[^"\\]|\\.){0,1000}"|[-+]?[0-9.eE+-]{1,40})\s*$""",
    re.VERBOSE,
)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Clause:
    kind: str  # metric | param | tag | status
    key: str | None
    op: str
    value: float | str


def _unquote(raw: str) -> str | None:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    return None


def parse(text: str | None) -> list[Clause]:
    """Parse a filter; empty or None means no filter.

    Raises:
        InvalidInput: a clause that does not read as above (the message quotes it).
    """
    if text is None or not text.strip():
        return []
    # Split on " and " outside quotes only: quoted values may contain the word.
    parts = _split(text)
    if len(parts) > MAX_CLAUSES:
        raise InvalidInput(f"filter: at most {MAX_CLAUSES} clauses")
    return [_clause(part) for part in parts]


def _split(text: str) -> list[str]:
    parts, start, quote, i = [], 0, "", 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "`":
            end = text.find("`", i + 1)
            i = len(text) if end < 0 else end + 1
            continue
        else:
            match = _AND.match(text, i)
            if match and i > start:
                parts.append(text[start:i])
                start = i = match.end()
                continue
        i += 1
    parts.append(text[start:])
    return parts


def _clause(part: str) -> Clause:
    match = _CLAUSE.match(part)
    if match is None:
        raise InvalidInput(
            f"filter: cannot read {part.strip()[:200]!r}; write e.g. "
            "metric.accuracy > 0.8 and tag.team = 'nlp'"
        )
    kind, op, raw = match["kind"], match["op"], match["value"]
    key = match["qkey"] or match["key"]
    if (kind == "status") != (key is None):
        raise InvalidInput(
            f"filter: {part.strip()[:200]!r}: {kind} needs a key"
            if key is None
            else f"filter: status takes no key in {part.strip()[:200]!r}"
        )
    text = _unquote(raw)
    if kind == "metric":
        if text is not None:
            raise InvalidInput(f"filter: metric.{key} compares with a number, not text")
        try:
            number = float(raw)
        except ValueError:
            raise InvalidInput(f"filter: {raw!r} is not a number") from None
        if not math.isfinite(number):
            raise InvalidInput(f"filter: {raw!r} is not a finite number")
        return Clause(kind, key, op, number)
    if text is None:
        raise InvalidInput(f"filter: {kind} values are quoted text, e.g. {kind}.x = 'y'")
    if op not in ("=", "!="):
        raise InvalidInput(f"filter: {kind} compares with = or != only")
    return Clause(kind, key, op, text)
