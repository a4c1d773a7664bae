"""Typed SDK errors: the server's stable error codes turned back into exceptions.

Every error answer from the API is ``{"error": <code>, "detail": <message or list>}``. The
SDK raises the class registered for ``code`` in :data:`ERRORS_BY_CODE`; a code it does not
know yet still raises :class:`RaylaneError`, carrying that code, so older clients keep
working against newer servers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from raylane.schemas.runs import RunRead

Detail = str | list[dict[str, Any]]


class RaylaneError(Exception):
    """Base of every error the SDK raises.

    Attributes:
        code: The stable error code, e.g. ``"not_found"``.
        detail: A human message, or a list of field errors for ``validation_error``.
        status: The HTTP status, or None when the error happened before any answer.

    ``default_code`` and ``default_status`` are the code and status the server uses for the
    class; only the code (``default_code`` or one of ``also_codes``) decides which class an
    answer becomes.
    """

    default_code: ClassVar[str] = "error"
    default_status: ClassVar[int | None] = None
    # Further wire codes answered as this class (the first one is ``default_code``).
    also_codes: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, detail: Detail, *, code: str | None = None, status: int | None = None
    ) -> None:
        self.code = code or self.default_code
        self.detail = detail
        self.status = status
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The detail as one line, field errors joined as ``loc: msg; loc: msg``."""
        return format_detail(self.detail)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(code={self.code!r}, status={self.status!r}, detail={self.detail!r})"


class NotFound(RaylaneError):
    """The resource does not exist, or belongs to another organization (the same answer)."""

    default_code = "not_found"
    default_status = 404


class Conflict(RaylaneError):
    """The request clashes with current state, e.g. a duplicate name."""

    default_code = "conflict"
    default_status: ClassVar[int | None] = 409


class IdempotencyKeyReused(Conflict):
    """The ``Idempotency-Key`` was first used with another request (409): a key names one
    request; send a new key for a new request."""

    default_code = "idempotency_key_reused"
    # Not 409: a bare 409 is a conflict, never this verdict.
    default_status: ClassVar[int | None] = None


class ValidationError(RaylaneError):
    """The input was rejected, by the server (422) or before sending (``status`` None)."""

    default_code = "validation_error"
    default_status = 422


class PayloadTooLarge(RaylaneError):
    """The request body is over the server's size limit."""

    default_code = "payload_too_large"
    default_status = 413


class Unauthenticated(RaylaneError):
    """No API key, or the key is unknown, expired or revoked."""

    default_code = "unauthenticated"
    default_status = 401


class PermissionDenied(RaylaneError):
    """The key is valid but its role or scopes do not allow the action."""

    default_code = "permission_denied"
    default_status = 403


class RateLimited(RaylaneError):
    """Too many requests.

    Attributes:
        retry_after: Seconds to wait before retrying (from ``Retry-After``), or None.
        limit: The request budget of the window (``RateLimit-Limit``), or None.
        remaining: Requests left in the window (``RateLimit-Remaining``), or None.
    """

    default_code = "rate_limited"
    default_status = 429

    def __init__(
        self,
        detail: Detail,
        *,
        code: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        limit: int | None = None,
        remaining: int | None = None,
    ) -> None:
        super().__init__(detail, code=code, status=status)
        self.retry_after = retry_after
        self.limit = limit
        self.remaining = remaining


class ServiceUnavailable(RaylaneError):
    """A dependency of the server (database, cache, cluster) is down; retry later."""

    default_code = "service_unavailable"
    default_status = 503


class InternalError(RaylaneError):
    """The server failed unexpectedly; report it with the request time."""

    default_code = "internal_error"
    default_status = 500


class GuardrailBlocked(RaylaneError):
    """A guardrail policy refused the question or the answer (the server answers 422).

    Attributes:
        stage: ``input``, ``context`` or ``output`` when known (streamed answers say it).
        detectors: The detectors that blocked, when known, e.g. ``["email"]``.

    Raised before any answer (status 422), or from inside a streamed answer (status None),
    possibly after some tokens were already received.
    """

    default_code = "guardrail_blocked"
    # Not 422: a bare 422 from a proxy is a validation error, never a guardrail verdict.
    default_status = None

    def __init__(
        self,
        detail: Detail,
        *,
        code: str | None = None,
        status: int | None = None,
        stage: str | None = None,
        detectors: Sequence[str] = (),
    ) -> None:
        super().__init__(detail, code=code, status=status)
        self.stage = stage
        self.detectors = list(detectors)


class WrongRegion(RaylaneError):
    """The organization's data is pinned to another region than this deployment's (the
    server answers 409): connect to that region's URL instead."""

    default_code = "wrong_region"
    # Not 409: a bare 409 from a proxy is a conflict, never a region verdict.
    default_status = None


class BadRequest(RaylaneError):
    """The server could not take the request as sent: a malformed body (400), or a method
    (405) or media type (415) it does not support on that path. Usually the SDK and the
    server are different versions, or the URL points past the API root."""

    default_code = "http_error"
    also_codes = ("method_not_allowed", "unsupported_media_type")
    # Bare statuses keep their ``http_<status>`` codes: only our own error bodies map here.
    default_status = None


class AuditChainBroken(RaylaneError):
    """The server found the organization's audit hash chain tampered with."""

    default_code = "audit_chain_broken"


class APIConnectionError(RaylaneError):
    """The server could not be reached, or did not answer in time (no HTTP status)."""

    default_code = "connection_error"


class ConfigError(RaylaneError):
    """The local profile file is unreadable, or names a profile that does not exist."""

    default_code = "config_error"


class RunFailed(RaylaneError):
    """A run that was waited for ended ``failed`` or ``cancelled`` (raised by the SDK, not
    answered by the server).

    Attributes:
        run: The run in its final state; ``run.error`` says why it failed.

    ``code`` is ``run_failed`` or ``run_cancelled``; ``status`` is None.
    """

    default_code = "run_failed"

    def __init__(self, run: RunRead) -> None:
        self.run = run
        detail = f"{run.kind} run {run.id} {run.status}"
        if run.error:
            detail = f"{detail}: {run.error}"
        super().__init__(detail, code=f"run_{run.status}")


# The one table from wire code to exception class.
ERRORS_BY_CODE: Mapping[str, type[RaylaneError]] = {
    code: cls
    for cls in (
        NotFound,
        Conflict,
        IdempotencyKeyReused,
        ValidationError,
        PayloadTooLarge,
        Unauthenticated,
        PermissionDenied,
        RateLimited,
        ServiceUnavailable,
        InternalError,
        GuardrailBlocked,
        WrongRegion,
        BadRequest,
        AuditChainBroken,
    )
    for code in (cls.default_code, *cls.also_codes)
}

# Derived from the same table, for answers without a JSON error body (e.g. a proxy's 502 page).
_CODE_BY_STATUS: Mapping[int, str] = {
    cls.default_status: cls.default_code
    for cls in ERRORS_BY_CODE.values()
    if cls.default_status is not None
}


def code_for_status(status: int) -> str:
    """The wire code the server would use for ``status``; ``http_<status>`` when none."""
    return _CODE_BY_STATUS.get(status, f"http_{status}")


def error_for(
    code: str,
    detail: Detail,
    *,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> RaylaneError:
    """Build the exception for an error answer.

    Args:
        code: The ``error`` field of the body.
        detail: The ``detail`` field of the body.
        status: The HTTP status of the answer.
        headers: The answer's headers; rate-limit headers fill :class:`RateLimited`.

    Returns:
        An instance of the class registered for ``code``, else :class:`RaylaneError`.
    """
    cls = ERRORS_BY_CODE.get(code, RaylaneError)
    if issubclass(cls, RateLimited):
        headers = headers or {}
        return cls(
            detail,
            code=code,
            status=status,
            retry_after=_parse_retry_after(headers.get("retry-after")),
            limit=_parse_int(headers.get("ratelimit-limit")),
            remaining=_parse_int(headers.get("ratelimit-remaining")),
        )
    return cls(detail, code=code, status=status)


def format_detail(detail: Detail) -> str:
    """One line for a detail: the message itself, or field errors as ``loc: msg; ...``."""
    if isinstance(detail, str):
        return detail
    parts = []
    for item in detail:
        loc = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
        msg = str(item.get("msg", item))
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds from ``Retry-After``, which RFC 9110 allows as seconds or as an HTTP date."""
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _parse_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None
