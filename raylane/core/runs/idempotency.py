"""Idempotency keys: a retried run-creating request gets the first answer, not a second run.

The key is claimed by an INSERT on a unique (organization, scope, key) constraint in the
request's own transaction, before the run is created; the answer is stored in that same
transaction. So:

* concurrent requests with one key queue on the unique index behind the first; when it
  commits they find its stored answer (one run), when it rolls back (an error answer, which is
  not stored) the next one creates the run itself;
* the same key with another request (another body, path or query) is refused with
  ``IdempotencyKeyReused`` (409): a key names one request, never "whatever comes next".

Keys live :data:`KEEP` (24 h) from their first use; the reconciler deletes expired ones, and an
expired key still in the table is taken over as new.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.runs.repository import IdempotencyRepository
from raylane.errors import Conflict, IdempotencyKeyReused

KEEP: Final = timedelta(hours=24)
MAX_KEY_LENGTH: Final = 255


@dataclass(frozen=True)
class Answer:
    """A run-creating request's answer: fresh, or the stored first one (``replayed``)."""

    status_code: int
    body: dict[str, Any]
    replayed: bool


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """What makes two requests "the same": method, path, query and body, a JSON body compared
    by value (key order and spacing do not count)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:  # not JSON (or empty): the bytes as sent
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big") + part)  # length-prefixed: no ambiguity
    return digest.hexdigest()


async def once(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    scope: str,
    key: str,
    fingerprint: str,
    create: Callable[[], Awaitable[tuple[int, dict[str, Any]]]],
) -> Answer:
    """Answer a keyed request: create once, then replay the first answer.

    Args:
        organization_id: The caller's organization (keys never cross organizations).
        scope: The route, e.g. ``POST /api/v1/collections/{collection_id}/ingest``.
        key: The client's ``Idempotency-Key``.
        fingerprint: :func:`fingerprint` of the request.
        create: Does the work; returns the status code and JSON body to answer (and store).

    Raises:
        IdempotencyKeyReused: the key was first used for another request.
        Conflict: the key's first request stored no answer (it cannot happen in one
            transaction; kept as a clear error rather than a second run).
    """
    repo = IdempotencyRepository(session)
    expires_at = datetime.now(UTC) + KEEP
    claimed = await repo.claim(
        organization_id=organization_id,
        scope=scope,
        key=key,
        fingerprint=fingerprint,
        expires_at=expires_at,
    ) or await repo.reclaim_expired(
        scope=scope, key=key, fingerprint=fingerprint, expires_at=expires_at
    )
    if claimed:
        status_code, body = await create()
        await repo.record(scope=scope, key=key, status_code=status_code, response=body)
        return Answer(status_code, body, replayed=False)
    first = await repo.find(scope=scope, key=key)
    if first is None or first.response is None or first.status_code is None:
        raise Conflict(f"the request with Idempotency-Key {key!r} has no answer yet; retry")
    if first.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {key!r} was already used for another request to this route "
            "(a different body, path or query); use a new key for a new request"
        )
    return Answer(first.status_code, dict(first.response), replayed=True)
