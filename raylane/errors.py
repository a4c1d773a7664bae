"""Domain errors with stable codes. No HTTP in here: ``serve/errors.py`` maps them to statuses."""

from __future__ import annotations

from typing import Any


class RaylaneError(Exception):
    """Base of every domain error; ``code`` is part of the public API."""

    code = "error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other constructor arguments; rebuild from state so errors survive
        # pickling across Ray processes (a replica's NotFound must stay a NotFound).
        return (_rebuild, (type(self), self.detail, dict(self.__dict__)))


def _rebuild(cls: type[RaylaneError], detail: str, state: dict[str, Any]) -> RaylaneError:
    error = cls.__new__(cls)
    Exception.__init__(error, detail)
    error.__dict__.update(state)
    return error


class NotFound(RaylaneError):
    """Missing, or belonging to another organization: the same answer for both."""

    code = "not_found"

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {ident} not found")


class Conflict(RaylaneError):
    code = "conflict"


class IdempotencyKeyReused(Conflict):
    """An ``Idempotency-Key`` sent again with another request than the one it first named."""

    code = "idempotency_key_reused"


class InvalidInput(RaylaneError):
    code = "validation_error"


class PayloadTooLarge(RaylaneError):
    code = "payload_too_large"


class Unauthenticated(RaylaneError):
    code = "unauthenticated"


class PermissionDenied(RaylaneError):
    code = "permission_denied"


class RateLimited(RaylaneError):
    code = "rate_limited"

    def __init__(
        self, detail: str, *, retry_after: float, limit: int, remaining: int = 0, scope: str = ""
    ) -> None:
        super().__init__(detail)
        self.scope = scope
        self.retry_after = retry_after
        self.limit = limit
        self.remaining = remaining


class ServiceUnavailable(RaylaneError):
    code = "service_unavailable"


class GuardrailBlocked(RaylaneError):
    """A guardrail policy refused the request or the answer."""

    code = "guardrail_blocked"


class WrongRegion(RaylaneError):
    """The organization's data is pinned to another region than this deployment's."""

    code = "wrong_region"


class AuditChainBroken(RaylaneError):
    code = "audit_chain_broken"
