"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware on the hot path)."""

from __future__ import annotations

import functools
import ipaddress
import json
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from raylane.serve.errors import rate_limit_headers
from raylane.serve.metrics import HTTP_LATENCY, HTTP_REQUESTS
from raylane.serve.stats import REQUEST_STATS


class _TooLarge(HTTPException):
    """Raised from ``receive``: an HTTPException, so the app's handlers answer 413 in our shape."""

    def __init__(self, detail: str) -> None:
        super().__init__(status_code=413, detail=detail)


async def _send_error(send: Send, status: int, code: str, detail: str) -> None:
    body = json.dumps({"error": code, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# Multipart uploads: documents, dataset versions, experiment run artifacts.
UPLOAD_PATHS = ("/documents", "/upload", "/artifacts")


class BodyLimit:
    """413 for bodies over the limit, by Content-Length or by counting a streamed body.

    Uploads (``POST`` to a path ending in one of ``UPLOAD_PATHS``) get the larger upload limit.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, upload_bytes: int | None = None) -> None:
        self.app, self.max_bytes = app, max_bytes
        self.upload_bytes = upload_bytes or max_bytes

    def _limit(self, scope: Scope) -> int:
        upload = scope.get("method") == "POST" and scope.get("path", "").endswith(UPLOAD_PATHS)
        return self.upload_bytes if upload else self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self._limit(scope)
        detail = f"request body larger than {limit} bytes"
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return await _send_error(send, 413, "payload_too_large", detail)
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge(detail)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await _send_error(send, 413, "payload_too_large", detail)


# What a client may choose as its request id: it is echoed in a header and stored in audit rows,
# so printable ASCII without separators, as long as the column. Anything else gets a fresh id.
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:@/+=-]{1,64}")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def request_id_from(raw: bytes | None) -> str:
    """The caller's ``X-Request-ID`` if it is a plain token (truncated to 64), else a new one."""
    if raw and _REQUEST_ID.fullmatch(raw[:64]):
        return raw[:64].decode("ascii")
    return uuid.uuid4().hex


@functools.lru_cache(maxsize=4096)
def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is loopback too
    return any(address in net or (mapped is not None and mapped in net) for net in proxies)


def client_address(scope: Scope, proxies: Sequence[Network]) -> str | None:
    """The client's address: the peer's, unless the peer is a trusted proxy.

    Behind trusted proxies, ``X-Forwarded-For`` is walked right to left (each proxy appends the
    address it saw) past every trusted hop; the first untrusted one is the client. Entries left
    of it were written by the client and are ignored, so an untrusted peer cannot spoof one.
    """
    client = scope.get("client")
    peer = client[0] if client else None
    if peer is None or (nearest := _address(peer)) is None or not _trusted(nearest, proxies):
        return peer
    forwarded = b",".join(v for k, v in scope.get("headers", []) if k == b"x-forwarded-for")
    for hop in reversed(forwarded.decode("latin-1").split(",")):
        address = _address(hop)
        if address is None:  # a trusted proxy wrote nothing usable: stop at what it was
            break
        nearest = address
        if not _trusted(address, proxies):
            break
    return str(nearest)


class RequestContext:
    """Request id (``X-Request-ID``, echoed), RateLimit-* headers, and request metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers", []))
        request_id = request_id_from(headers.get(b"x-request-id"))
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        start = time.perf_counter()
        status = 500

        async def wrapped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                out = list(message.get("headers", []))
                out.append((b"x-request-id", request_id.encode()))
                admission = state.get("admission")
                if admission is not None and status != 429:
                    for k, v in rate_limit_headers(
                        admission.limit, admission.remaining, admission.reset_s
                    ).items():
                        out.append((k.lower().encode(), v.encode()))
                message = {**message, "headers": out}
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            org = str(state.get("organization_id") or "")
            elapsed = time.perf_counter() - start
            HTTP_REQUESTS.labels(template, method, str(status), org).inc()
            HTTP_LATENCY.labels(template, method).observe(elapsed)
            REQUEST_STATS.record(org, elapsed, status)
