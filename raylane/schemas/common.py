"""Base models, the page envelope, and the wire types that make the API refuse exactly what its
document refuses.

The document (JSON Schema) and pydantic disagree by default in three places, and clients built
from the document (and the fuzzer in the test suite) notice each one:

- pydantic's lax mode turns ``0`` into ``False``, ``false`` into ``0.0`` and ``"5"`` into ``5``;
  the types below are strict where JSON Schema is (no bool for a number, no string for either),
  yet accept ``18.0`` for an integer as JSON Schema does;
- ``str_strip_whitespace`` strips before the length checks, so ``" "`` passes ``minLength: 1``
  in the document and fails in the API: strings are validated as sent (their length, their
  pattern), then stripped, and a required text must hold a character that is not whitespace;
- Postgres cannot store U+0000 in text or JSONB: no string may contain it (a pattern says so in
  the document; ``raylane.serve.routing`` refuses it in every body, query and path with a 422).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeAlias, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    WithJsonSchema,
)

T = TypeVar("T")

RoleName = Literal["owner", "admin", "developer", "viewer"]

# What ``str.strip()`` removes: every character for which ``str.isspace()`` is true (a unit test
# checks the list against the interpreter). Written as escapes so that Python's ``re``, the Rust
# regex engines (pydantic-core, jsonschema-rs) and ECMA-262 read the same class.
WHITESPACE = (
    r"\u0009-\u000d\u001c-\u001f\u0020\u0085\u00a0\u1680\u2000-\u200a"
    r"\u2028\u2029\u202f\u205f\u3000"
)
NUL_FREE = r"^[^\u0000]*$"
# An http(s) URL the platform calls (an agent, an LLM endpoint): a host without credentials or
# brackets (IPv6 literals are not taken: name the host), an optional port, then any printable
# path and query. The egress rule still judges where the host resolves.
HTTP_URL = (
    r"^https?://[^\[\]/?#@:\\\u0000-\u0020\u007f]+(:[0-9]{1,5})?"
    r"([/?#][^\u0000-\u0020\u007f]*)?$"
)
# At least one character that stripping keeps, and no NUL anywhere.
NON_BLANK = rf"^[^\u0000]*[^\u0000{WHITESPACE}][^\u0000]*$"
# RFC 3339 date-time, the document's ``format: date-time``: seconds and an offset required.
DATE_TIME = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_DATE_TIME = re.compile(DATE_TIME)
# An address as HTML forms define one (WHATWG): what a client can check before sending. The API
# accepts every address this matches, the document says exactly this pattern.
EMAIL = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def _strip(value: str) -> str:
    return value.strip()


def _number(value: Any) -> Any:
    # JSON Schema's number and integer: never a bool (a subclass of int), never a string.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON number")
    return value


def _rfc3339(value: Any) -> Any:
    if isinstance(value, str) and not _DATE_TIME.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-01-31T12:00:00Z")
    return value


# Strings are checked as sent, then stripped: ``Text`` for free text (NUL-free), ``Name`` for a
# required one (NUL-free and not blank). Lengths go on the field: ``Field(max_length=...)``.
Text: TypeAlias = Annotated[str, Field(pattern=NUL_FREE), AfterValidator(_strip)]
Name: TypeAlias = Annotated[str, Field(min_length=1, pattern=NON_BLANK), AfterValidator(_strip)]
# Strings kept exactly as sent (chat content, texts whose spans are reported back).
RawText: TypeAlias = Annotated[str, Field(pattern=NUL_FREE)]
Email: TypeAlias = Annotated[str, Field(max_length=254, pattern=EMAIL)]
Bool: TypeAlias = Annotated[bool, Strict()]
# Constraints must come before the validator to reach the document (``minimum``, not ``ge``):
# ``Annotated[int, Field(ge=1), JSON_NUMBER]``; ``Int`` and ``Float`` take constraints only as
# a field's own ``Field(...)`` on a required or defaulted, non-optional field.
JSON_NUMBER = BeforeValidator(_number)
# A token count a request may name: well past any model's context, inside a 32-bit integer.
MAX_TOKENS = 1_000_000
Int: TypeAlias = Annotated[int, JSON_NUMBER]
Float: TypeAlias = Annotated[float, JSON_NUMBER]
DateTime: TypeAlias = Annotated[
    datetime,
    BeforeValidator(_rfc3339),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": DATE_TIME}),
]

# Free-form JSON (a flag's value, document metadata): anything JSON holds, without NUL in a key
# or a string. The document names it ``JsonValue``; the routing layer enforces the NUL rule.
# No ``type``: each keyword applies to the values of its own type only (``pattern`` to strings,
# ``propertyNames`` and ``additionalProperties`` to objects, ``items`` to arrays). Written this
# way rather than as a union of six types so that client generators read it as "any".
JSON_VALUE_SCHEMA: dict[str, Any] = {
    "description": "any JSON value; no string or object key may contain U+0000",
    "pattern": NUL_FREE,
    "items": {"$ref": "#/components/schemas/JsonValue"},
    "propertyNames": {"pattern": NUL_FREE},
    "additionalProperties": {"$ref": "#/components/schemas/JsonValue"},
}
# In a model's own schema these are plain "any value" and "object"; the document
# (``raylane.serve.openapi``) refers them to ``JsonValue``, NUL-free keys included.
JsonValue: TypeAlias = Any
JsonObject: TypeAlias = dict[str, Any]


class Input(BaseModel):
    """Request bodies: unknown fields are an error (422), never silently dropped. Strings are
    stripped by the ``Text``/``Name`` types after validation, never before it."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    """Response bodies; built from ORM rows or dataclasses."""

    model_config = ConfigDict(from_attributes=True)


class Page(Output, Generic[T]):
    """One page; pass ``next_cursor`` back as ``cursor`` for the next, None at the end."""

    items: list[T]
    next_cursor: str | None = None


class ErrorBody(BaseModel):
    """Every error answer: a stable code and a human message."""

    error: str
    detail: str | list[dict[str, object]]
