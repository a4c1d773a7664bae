"""The generic resource machinery under every module of :mod:`raylane.client.resources`.

Each resource module builds :class:`Call` objects (method, path, query, body, and how to parse
the answer), mostly through a :class:`Collection`; its sync class sends them with
:class:`SyncResource`'s blocking transport, its async class with :class:`AsyncResource`'s
non-blocking one. Request shapes are written once, in the resource module; nothing here knows
a route.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar
from urllib.parse import quote

import httpx
import pydantic

from raylane.client._http import (
    AsyncHttpClient,
    Files,
    Form,
    HttpClient,
    decode,
    raise_for_error,
)
from raylane.client.errors import RaylaneError, ValidationError
from raylane.schemas.common import Input, Page

T = TypeVar("T", bound=pydantic.BaseModel)
Item = TypeVar("Item")
M = TypeVar("M", bound=pydantic.BaseModel)
R = TypeVar("R")

Ident = uuid.UUID | str
DEFAULT_PAGE_SIZE: Final = 100  # the server caps pages at 200


class Unset:
    """Type of :data:`UNSET`: "leave this field as it is" in update methods."""

    _instance: Unset | None = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = Unset()


@dataclass(frozen=True)
class Call(Generic[R]):
    """One API request and the parser for its answer.

    ``accept`` lists error statuses whose body is still a valid answer (the health report
    comes back as 503 when degraded). ``files`` and ``form`` make it a multipart request;
    ``timeout`` replaces the client's (answers that take long to generate); ``headers`` are
    sent besides the client's (an ``Idempotency-Key``).
    """

    method: str
    path: str
    parse: Callable[[Any], R]
    params: Mapping[str, Any] | None = None
    json: Any = None
    accept: tuple[int, ...] = ()
    files: Files | None = None
    form: Form | None = None
    timeout: httpx.Timeout | None = None
    headers: Mapping[str, str] | None = None
    # The answer is text (a JUnit report), handed to ``parse`` as it came.
    text: bool = False


def finish(call: Call[R], response: httpx.Response) -> R:
    """Turn an answer into the call's result.

    Raises:
        RaylaneError: the mapped subclass for an error answer, or ``invalid_response`` when a
            success does not match the expected schema (client and server out of step).
    """
    if call.text:
        raise_for_error(response)
        return call.parse(response.text)
    if response.status_code in call.accept:
        try:
            return call.parse(response.json())
        except ValueError:  # not JSON, or not the expected model: treat it as the error it is
            pass
    data = decode(response)
    try:
        return call.parse(data)
    except pydantic.ValidationError as exc:
        raise RaylaneError(
            f"{call.method} {call.path} answered an unexpected body "
            f"({exc.error_count()} schema errors); are client and server versions compatible?",
            code="invalid_response",
            status=response.status_code,
        ) from exc


def next_cursor(page: Page[Any], sent: str | None) -> str | None:
    """The cursor for the following page, or None at the end.

    Raises:
        RaylaneError: the server handed back the cursor it was given (it would loop forever).
    """
    if not page.next_cursor:
        return None
    if page.next_cursor == sent:
        raise RaylaneError(f"pagination did not advance past cursor {sent!r}", code="invalid_page")
    return page.next_cursor


def segment(value: Ident) -> str:
    """One path segment, percent-encoded so an id can never change the route."""
    text = str(value)
    if not text:
        raise ValidationError("an id must not be empty")
    return quote(text, safe="")


def body(model: type[Input], /, **fields: Any) -> dict[str, Any]:
    """Validate a request body locally and dump it as JSON-ready data.

    Fields passed as :data:`UNSET` are left out, so an update sends only what changes.

    Raises:
        ValidationError: the fields do not satisfy ``model`` (``status`` is None: nothing
            was sent).
    """
    given = {name: value for name, value in fields.items() if value is not UNSET}
    try:
        return model(**given).model_dump(mode="json", exclude_unset=True)
    except pydantic.ValidationError as exc:
        raise ValidationError(
            [
                {"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]}
                for err in exc.errors(include_url=False, include_context=False, include_input=False)
            ]
        ) from None


def present(**fields: Any) -> dict[str, Any]:
    """The fields that were given: None becomes :data:`UNSET`, so it is not sent."""
    return {name: UNSET if value is None else value for name, value in fields.items()}


def _same(data: Any) -> Any:
    return data


class Collection(Generic[T]):
    """The REST shapes of one collection: ``path`` and ``path/{id}``, read model ``model``.

    ``wire`` rewrites each item's JSON before validation, for a read model whose input names
    differ from what the server sends (default: unchanged).
    """

    def __init__(self, path: str, model: type[T], *, wire: Callable[[Any], Any] = _same) -> None:
        self.path = path
        self.model = model
        self._page: type[Page[T]] = Page[model]  # type: ignore[valid-type]
        self._wire = wire

    def item(self, ident: Ident) -> str:
        """The path of one item."""
        return f"{self.path}/{segment(ident)}"

    def parse(self, data: Any) -> T:
        """One item of the answer as the read model."""
        return self.model.model_validate(self._wire(data))

    def parse_page(self, data: Any) -> Page[T]:
        """One page of the answer, each item through ``wire``."""
        if isinstance(data, dict) and isinstance(data.get("items"), list):
            data = {**data, "items": [self._wire(item) for item in data["items"]]}
        return self._page.model_validate(data)

    def get(self, ident: Ident) -> Call[T]:
        """``GET path/{id}``."""
        return Call("GET", self.item(ident), self.parse)

    def list(
        self, *, limit: int | None = None, cursor: str | None = None, **filters: Any
    ) -> Call[Page[T]]:
        """``GET path?limit=&cursor=&<filters>``, one page."""
        params = {"limit": limit, "cursor": cursor, **filters}
        return Call("GET", self.path, self.parse_page, params=params)

    def create(self, data: Mapping[str, Any], returns: type[M]) -> Call[M]:
        """``POST path``; some creations answer a richer model than the read model."""
        return Call("POST", self.path, returns.model_validate, json=data)

    def update(self, ident: Ident, data: Mapping[str, Any]) -> Call[T]:
        """``PATCH path/{id}`` with only the fields that change."""
        return Call("PATCH", self.item(ident), self.parse, json=data)

    def put(self, ident: Ident, data: Mapping[str, Any]) -> Call[T]:
        """``PUT path/{id}``: create or replace."""
        return Call("PUT", self.item(ident), self.parse, json=data)

    def delete(self, ident: Ident) -> Call[None]:
        """``DELETE path/{id}`` answering 204."""
        return Call("DELETE", self.item(ident), _none)

    def delete_returning(self, ident: Ident) -> Call[T]:
        """``DELETE path/{id}`` answering the final state (e.g. a revoked key)."""
        return Call("DELETE", self.item(ident), self.parse)


def _none(_: Any) -> None:
    return None


def send(http: HttpClient, call: Call[R]) -> R:
    """Send ``call`` through a blocking transport and return its result."""
    response = http.send(
        call.method,
        call.path,
        params=call.params,
        json=call.json,
        files=call.files,
        form=call.form,
        timeout=call.timeout,
        headers=call.headers,
    )
    return finish(call, response)


async def asend(http: AsyncHttpClient, call: Call[R]) -> R:
    """Send ``call`` through a non-blocking transport and return its result."""
    response = await http.send(
        call.method,
        call.path,
        params=call.params,
        json=call.json,
        files=call.files,
        form=call.form,
        timeout=call.timeout,
        headers=call.headers,
    )
    return finish(call, response)


def adopt_docs(cls: type, twin: type) -> None:
    """Give ``cls`` (an async class) the docstrings of its blocking ``twin``.

    Each public method without a docstring of its own takes the twin's method's, and the class
    says whose async form it is, so the text that documents a call is written once.
    """
    if cls.__doc__ is None:
        cls.__doc__ = f"Async form of :class:`{twin.__module__}.{twin.__qualname__}`."
    for name, member in vars(cls).items():
        source = getattr(twin, name, None)
        if name.startswith("_") or source is None or not callable(member):
            continue
        if member.__doc__ is None:
            member.__doc__ = source.__doc__


PageOf = Callable[[str | None], Call[Page[Item]]]


class SyncResource:
    """Base of the blocking resource groups."""

    def __init__(self, http: HttpClient) -> None:
        self._http = http

    def _run(self, call: Call[R]) -> R:
        return send(self._http, call)

    def _pages(self, page: PageOf[Item]) -> Iterator[Item]:
        cursor: str | None = None
        while True:
            current = self._run(page(cursor))
            yield from current.items
            cursor = next_cursor(current, cursor)
            if cursor is None:
                return


class AsyncResource:
    """Base of the non-blocking resource groups.

    A subclass names its blocking twin (``class AsyncProjects(AsyncResource, twin=Projects)``):
    each public method without a docstring of its own takes the twin's, so the text that
    documents a call is written once. The parity test checks that the signatures match.
    """

    def __init_subclass__(cls, *, twin: type[SyncResource] | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if twin is not None:
            adopt_docs(cls, twin)

    def __init__(self, http: AsyncHttpClient) -> None:
        self._http = http

    async def _run(self, call: Call[R]) -> R:
        return await asend(self._http, call)

    async def _pages(self, page: PageOf[Item]) -> AsyncIterator[Item]:
        cursor: str | None = None
        while True:
            current = await self._run(page(cursor))
            for item in current.items:
                yield item
            cursor = next_cursor(current, cursor)
            if cursor is None:
                return
