"""Thin sync and async httpx wrappers: auth header, timeouts, error mapping, JSON decoding."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import httpx

from raylane.client.errors import (
    APIConnectionError,
    ConfigError,
    RaylaneError,
    code_for_status,
    error_for,
)

# Reads and writes are quick on this API (long work returns a run id); connecting should be
# quicker still, so a wrong URL fails fast instead of hanging for the full read timeout.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# Generating an answer is the exception: a CPU model may think for minutes before it is done
# (or, streamed, before its first token), so those calls wait longer for the server.
GENERATION_TIMEOUT = httpx.Timeout(300.0, connect=5.0)

Params = Mapping[str, Any]
# A multipart body: ``[(part name, (filename, bytes[, content type])), ...]`` and form fields.
Files = list[tuple[str, tuple[Any, ...]]]
Form = Mapping[str, str]
TimeoutArg = httpx.Timeout | None
EVENT_STREAM = "text/event-stream"


def sdk_version() -> str:
    """The installed package version, ``0+unknown`` when running from a bare checkout."""
    try:
        return version("raylane")
    except PackageNotFoundError:
        return "0+unknown"


def user_agent() -> str:
    """The ``User-Agent`` every SDK request sends."""
    return f"raylane-python/{sdk_version()}"


def build_headers(api_key: str | None) -> dict[str, str]:
    """Default headers: JSON, the SDK's user agent, and the bearer key when there is one."""
    headers = {"Accept": "application/json", "User-Agent": user_agent()}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def check_base_url(base_url: str) -> str:
    """Validate and normalize the API root.

    Raises:
        ConfigError: the URL is not ``http://`` or ``https://`` with a host.
    """
    url = httpx.URL(base_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(f"invalid API URL {base_url!r}: expected http(s)://host[:port]")
    return base_url.rstrip("/")


def clean_params(params: Params | None) -> dict[str, str | int | float | bool]:
    """Query parameters without the unset (None) ones; datetimes and UUIDs as strings."""
    out: dict[str, str | int | float | bool] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, datetime):
            # The API takes RFC 3339 with an offset; a naive time is read as UTC, as the
            # server stores every timestamp.
            aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
            out[key] = aware.isoformat()
        elif isinstance(value, uuid.UUID):
            out[key] = str(value)
        else:
            out[key] = value
    return out


def raise_for_error(response: httpx.Response) -> None:
    """Raise the mapped :class:`RaylaneError` subclass for any non-2xx answer.

    Raises:
        RaylaneError: the subclass registered for the body's ``error`` code.
    """
    if response.is_success:
        return
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        code: str = body["error"]
        detail = body.get("detail")
        if not isinstance(detail, str | list):
            detail = str(detail) if detail is not None else response.reason_phrase
    else:
        # Not our error envelope (a proxy or load balancer answered): map by status.
        code = code_for_status(status)
        detail = response.text.strip()[:500] or response.reason_phrase or f"HTTP {status}"
    raise error_for(code, detail, status=status, headers=response.headers)


def decode(response: httpx.Response) -> Any:
    """Raise for errors, then return the JSON body (None for an empty answer such as 204).

    Raises:
        RaylaneError: an error answer, or a success whose body is not JSON.
    """
    raise_for_error(response)
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise RaylaneError(
            f"{response.request.method} {response.request.url.path} answered a body that is "
            "not JSON; is the URL pointing at a Raylane API?",
            code="invalid_response",
            status=response.status_code,
        ) from exc


def check_event_stream(response: httpx.Response) -> None:
    """Raise for an error answer; otherwise make sure the body is an event stream.

    Raises:
        RaylaneError: the mapped subclass for an error answer, or ``invalid_response`` when
            a success is not ``text/event-stream`` (the URL is not a Raylane API, or a proxy
            rewrote the answer).
    """
    raise_for_error(response)
    media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != EVENT_STREAM:
        raise RaylaneError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{media_type or 'no content type'} instead of an event stream; is the URL "
            "pointing at a Raylane API?",
            code="invalid_response",
            status=response.status_code,
        )


def _connection_error(
    exc: httpx.TransportError, base_url: str, *, reading: bool = False
) -> APIConnectionError:
    if isinstance(exc, httpx.TimeoutException):
        return APIConnectionError(f"request to {base_url} timed out ({type(exc).__name__})")
    if reading:  # the server answered, then the connection broke mid-body
        return APIConnectionError(
            f"the connection to {base_url} broke while reading the answer: "
            f"{exc or type(exc).__name__}"
        )
    return APIConnectionError(f"could not reach {base_url}: {exc or type(exc).__name__}")


class HttpClient:
    """Blocking transport for :class:`raylane.client.Client`."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=build_headers(api_key),
            timeout=timeout,
            transport=transport,
        )

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        files: Files | None = None,
        form: Form | None = None,
        timeout: TimeoutArg = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request and return the raw answer, whatever its status.

        ``files`` and ``form`` make it a multipart request instead of a JSON one; ``timeout``
        replaces the client's for this request; ``headers`` are added to the client's.

        Raises:
            APIConnectionError: the server could not be reached or timed out.
        """
        try:
            return self._client.request(
                method,
                path,
                params=clean_params(params),
                json=json,
                files=files,
                data=form,
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
                headers=headers,
            )
        except httpx.TransportError as exc:
            raise _connection_error(exc, self.base_url) from exc

    @contextmanager
    def stream(
        self, method: str, path: str, *, json: Any = None, timeout: TimeoutArg = None
    ) -> Iterator[httpx.Response]:
        """Send one request for Server-Sent Events; yield the answer with its body unread.

        Raises:
            RaylaneError: the mapped subclass for an error answer (read whole first).
            APIConnectionError: the server could not be reached, timed out, or dropped the
                connection while the body was being read.
        """
        reading = False
        try:
            with self._client.stream(
                method,
                path,
                json=json,
                headers={"Accept": EVENT_STREAM},
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
            ) as response:
                if not response.is_success:
                    response.read()
                check_event_stream(response)
                reading = True
                yield response
        except httpx.TransportError as exc:
            raise _connection_error(exc, self.base_url, reading=reading) from exc

    def request(
        self, method: str, path: str, *, params: Params | None = None, json: Any = None
    ) -> Any:
        """Send one request and return its decoded JSON body.

        Raises:
            RaylaneError: the mapped subclass for an error answer or an unreachable server.
        """
        return decode(self.send(method, path, params=params, json=json))

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


class AsyncHttpClient:
    """Non-blocking transport for :class:`raylane.client.AsyncClient`."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=build_headers(api_key),
            timeout=timeout,
            transport=transport,
        )

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        files: Files | None = None,
        form: Form | None = None,
        timeout: TimeoutArg = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request and return the raw answer, whatever its status.

        ``files`` and ``form`` make it a multipart request instead of a JSON one; ``timeout``
        replaces the client's for this request; ``headers`` are added to the client's.

        Raises:
            APIConnectionError: the server could not be reached or timed out.
        """
        try:
            return await self._client.request(
                method,
                path,
                params=clean_params(params),
                json=json,
                files=files,
                data=form,
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
                headers=headers,
            )
        except httpx.TransportError as exc:
            raise _connection_error(exc, self.base_url) from exc

    @asynccontextmanager
    async def stream(
        self, method: str, path: str, *, json: Any = None, timeout: TimeoutArg = None
    ) -> AsyncIterator[httpx.Response]:
        """Send one request for Server-Sent Events; yield the answer with its body unread.

        Raises:
            RaylaneError: the mapped subclass for an error answer (read whole first).
            APIConnectionError: the server could not be reached, timed out, or dropped the
                connection while the body was being read.
        """
        reading = False
        try:
            async with self._client.stream(
                method,
                path,
                json=json,
                headers={"Accept": EVENT_STREAM},
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
            ) as response:
                if not response.is_success:
                    await response.aread()
                check_event_stream(response)
                reading = True
                yield response
        except httpx.TransportError as exc:
            raise _connection_error(exc, self.base_url, reading=reading) from exc

    async def request(
        self, method: str, path: str, *, params: Params | None = None, json: Any = None
    ) -> Any:
        """Send one request and return its decoded JSON body.

        Raises:
            RaylaneError: the mapped subclass for an error answer or an unreachable server.
        """
        return decode(await self.send(method, path, params=params, json=json))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
