"""The one table from domain error to HTTP status, and the one error shape."""

from __future__ import annotations

import logging
import math
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from raylane import errors

log = logging.getLogger(__name__)

STATUS: dict[type[errors.RaylaneError], int] = {
    errors.InvalidInput: 422,
    errors.GuardrailBlocked: 422,
    errors.Unauthenticated: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.IdempotencyKeyReused: 409,
    errors.WrongRegion: 409,
    errors.PayloadTooLarge: 413,
    errors.RateLimited: 429,
    errors.AuditChainBroken: 409,
    errors.ServiceUnavailable: 503,
}

_HTTP_CODES = {
    401: "unauthenticated",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int,
    code: str,
    detail: Any,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    # ``extra``: a domain error's structured fields (e.g. a suite's ``errors``: case and field
    # of each problem) beside the message; they never replace ``error`` or ``detail``.
    body = {**jsonable_encoder(extra or {}), "error": code, "detail": detail}
    return JSONResponse(body, status_code=status, headers=headers)


def rate_limit_headers(limit: int, remaining: int, reset_s: float) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(max(remaining, 0)),
        "RateLimit-Reset": str(math.ceil(reset_s)),
    }


async def _domain(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.RaylaneError)
    status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 500)
    headers = None
    if isinstance(exc, errors.RateLimited):
        headers = rate_limit_headers(exc.limit, 0, exc.retry_after)
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        from raylane.serve.metrics import RATE_LIMITED

        RATE_LIMITED.labels(scope=exc.scope or "request").inc()
    elif isinstance(exc, errors.ServiceUnavailable):
        headers = {"Retry-After": "5"}
    return error_response(status, exc.code, exc.detail, headers, getattr(exc, "extra", None))


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return error_response(422, "validation_error", detail)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        # The router answers from the first route whose path matched; the path may have others.
        from raylane.serve.openapi import allowed_methods

        headers = {
            **(headers or {}),
            "Allow": ", ".join(allowed_methods(request.app, request.url.path)),
        }
    return error_response(exc.status_code, code, exc.detail, headers)


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", exc)
    return error_response(503, "service_unavailable", "database unavailable", {"Retry-After": "5"})


def internal_error_body(request_id: str | None) -> dict[str, Any]:
    """What a client sees of a failure we did not foresee: no exception text (it can carry
    connection strings, bucket names, upstream bodies), only the id to find it in the logs."""
    return {"error": "internal_error", "detail": "internal error", "request_id": request_id}


def stream_error(exc: Exception, request_id: str | None) -> dict[str, Any]:
    """The in-band error event of a stream whose headers are already sent: a domain error keeps
    its own code and message; anything else is logged and reported like ``_unhandled``."""
    if isinstance(exc, errors.RaylaneError):
        return {"error": exc.code, "detail": exc.detail}
    log.error("unhandled error in a stream", exc_info=exc, extra={"request_id": request_id})
    return internal_error_body(request_id)


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    log.error("unhandled error", exc_info=exc, extra={"request_id": request_id})
    return JSONResponse(internal_error_body(request_id), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.RaylaneError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    # Lost connections and refused connects are outages, not bugs: 503 so clients retry. The
    # statements run on the driver (the tenant scope, the search) raise the driver's own error.
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(InterfaceError, _database_down)
    app.add_exception_handler(psycopg.OperationalError, _database_down)
    app.add_exception_handler(Exception, _unhandled)
