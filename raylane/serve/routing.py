"""The route class every router uses: JSON request bodies parsed by pydantic-core.

The standard library's parser takes ~90 µs for a search request's 384-float vector, pydantic-core
~13 µs; the values are the same (its errors fall back to the standard parser, so a malformed body
still gets FastAPI's 422 ``json_invalid``). FastAPI's documented way to change how a request is
read is a custom ``APIRoute``.

Both parsers are strict where the standard one is lenient: ``NaN`` and ``Infinity`` are not JSON
(Postgres refuses them in JSONB and vectors), and nesting deeper than pydantic-core's limit
(a few hundred levels) is refused instead of exhausting the interpreter's stack. Either is a 422
``json_invalid``, never a 500.

No string may contain U+0000 (Postgres stores it in neither text nor JSONB): a JSON body with a
NUL in any key or value, and a query or path with ``%00``, are refused here with a 422
``string_nul`` before any route code runs. The body check is a byte search on the hot path; only
a body that holds the six bytes ``\\u0000`` (or ``\\ud``: a surrogate, which must come in a
valid pair) or is UTF-16/32 is walked to find the field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import pydantic_core
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

_NUL_ESCAPE = b"\\u0000"
_SURROGATE_ESCAPES = (b"\\ud", b"\\uD")
_NUL_MSG = "must not contain U+0000 (NUL) or an unpaired surrogate"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes | str) -> Any:
    """Parse a JSON document strictly; raises ``json.JSONDecodeError`` for anything refused.

    pydantic-core first; what it cannot read for a reason other than depth (UTF-16 or UTF-32,
    which JSON allows) goes to the standard parser, which refuses the same constants.
    """
    try:
        return pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        if "recursion limit" in str(exc):  # the standard parser would only go deeper
            raise _decode_error("JSON nested too deeply", body) from exc
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        raise _decode_error(
            str(exc) if isinstance(exc, ValueError) else "JSON nested too deeply", body
        ) from exc


def _decode_error(msg: str, body: bytes | str) -> json.JSONDecodeError:
    doc = body if isinstance(body, str) else body[:200].decode("utf-8", "replace")
    return json.JSONDecodeError(msg, doc, 0)


class JsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


def _unstorable(text: str) -> bool:
    # NUL, or a lone surrogate (JSON's \\ud800 without its pair): neither is text Postgres or
    # UTF-8 can hold. Valid pairs arrive already joined into one character.
    if "\x00" in text:
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def nul_at(value: Any, loc: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """Where the first unstorable string is in a parsed JSON value (a key or a string): one with
    a NUL or a lone surrogate. None when there is none."""
    if isinstance(value, str):
        return loc if _unstorable(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if _unstorable(key):
                # The key as printable text: NUL and a lone surrogate written as escapes.
                shown = key.replace("\x00", "\\u0000")
                return (*loc, shown.encode("utf-8", "backslashreplace").decode())
            found = nul_at(item, (*loc, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = nul_at(item, (*loc, i))
            if found is not None:
                return found
    return None


def nul_error(loc: tuple[str | int, ...]) -> RequestValidationError:
    return RequestValidationError([{"type": "string_nul", "loc": loc, "msg": _NUL_MSG}])


async def _refuse_nul(request: JsonRequest, json_body: bool) -> None:
    if b"%00" in request.scope.get("query_string", b""):
        raise nul_error(("query",))
    if b"%00" in request.scope.get("raw_path", b"") or "\x00" in request.scope["path"]:
        raise nul_error(("path",))
    if not json_body:
        return
    body = await request.body()  # read once: FastAPI reads the same cached bytes next
    suspect = _NUL_ESCAPE in body or any(e in body for e in _SURROGATE_ESCAPES)
    if suspect or b"\x00" in body[:4]:  # JSON in UTF-16/32 starts with a NUL byte
        try:
            value = await request.json()
        except json.JSONDecodeError:
            return  # FastAPI answers the malformed body itself
        loc = nul_at(value)
        if loc is not None:
            raise nul_error(("body", *loc))


class Route(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        # Multipart bodies are not JSON: the upload route checks its own form fields.
        json_body = self.body_field is not None and not _is_form(self)

        async def route(request: Request) -> Response:
            wrapped = JsonRequest(request.scope, request.receive)
            await _refuse_nul(wrapped, json_body)
            return await handler(wrapped)

        return route


def _is_form(route: APIRoute) -> bool:
    from fastapi.params import Form

    return any(isinstance(p.field_info, Form) for p in route.dependant.body_params)
