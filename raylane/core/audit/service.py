"""Audit use cases: append to the per-organization hash chain, list, verify.

Each event's hash covers its own fields and the previous event's hash, so changing, removing or
reordering any row breaks the chain from that row on; ``verify`` names the first broken link.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.audit.models import AuditEvent
from raylane.core.audit.repository import AuditRepository
from raylane.core.rbac import Actor
from raylane.infra.db.base import Entity
from raylane.infra.db.paging import Page

GENESIS = "0" * 64


def event_hash(event: AuditEvent) -> str:
    """SHA-256 over the canonical JSON of the event's content and its predecessor's hash."""
    body = {
        "organization_id": str(event.organization_id),
        "seq": event.seq,
        "actor_type": event.actor_type,
        "actor_id": str(event.actor_id) if event.actor_id else None,
        "api_key_id": str(event.api_key_id) if event.api_key_id else None,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "summary": event.summary,
        "request_id": event.request_id,
        "ip": event.ip,
        "created_at": event.created_at.astimezone(UTC).isoformat(),
        "prev_hash": event.prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    first_broken_id: uuid.UUID | None = None
    reason: str | None = None


Target = Entity | tuple[str, object]


def _target(target: Target) -> tuple[str, str]:
    """(type, id) of what an event is about: an ORM row's snake-cased class name and its id,
    or an explicit pair where the subject is not a row (a flag key, a user behind a membership).
    """
    if isinstance(target, tuple):
        kind, ident = target
        return kind, str(ident)
    name = type(target).__name__
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(), str(target.id)


class AuditService:
    async def log(
        self,
        session: AsyncSession,
        actor: Actor | None,
        action: str,
        *,
        target: Target,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        organization_id: uuid.UUID | None = None,
    ) -> AuditEvent:
        """Append one event to the organization's chain, in the caller's transaction.

        If this fails the caller's action fails with it: nothing is done without its audit row.

        Args:
            session: the caller's session; the row commits or rolls back with its action.
            actor: who acted; None for system work (then give ``organization_id``).
            action: dotted name, e.g. ``project.update``.
            target: the ORM row acted on, or a ``(type, id)`` pair.
            before: the target's relevant fields before the action.
            after: the same fields after it.
            organization_id: the chain to append to, when it is not the actor's.

        Raises:
            ValueError: neither an actor nor an organization to audit under.
        """
        org = organization_id or (actor.organization_id if actor else None)
        if org is None:
            raise ValueError("an audit event needs an organization")
        target_type, target_id = _target(target)
        repo = AuditRepository(session)
        await repo.lock_chain(org)
        last = await repo.last(org)
        summary: dict[str, Any] = {}
        if before is not None:
            summary["before"] = before
        if after is not None:
            summary["after"] = after
        event = AuditEvent(
            organization_id=org,
            seq=(last.seq + 1) if last else 1,
            actor_type="user" if actor else "system",
            actor_id=actor.user_id if actor else None,
            api_key_id=actor.api_key_id if actor else None,
            action=action,
            target_type=target_type,
            target_id=target_id,
            summary=json.loads(json.dumps(summary, default=str)),
            request_id=actor.request_id if actor else None,
            ip=actor.ip if actor else None,
            created_at=datetime.now(UTC),
            prev_hash=last.hash if last else GENESIS,
        )
        event.hash = event_hash(event)
        return await repo.add(event)

    async def page(
        self, session: AsyncSession, *, limit: int, cursor: str | None, **filters: Any
    ) -> Page[AuditEvent]:
        """The organization's events, newest first, filtered (see ``AuditRepository.events``)."""
        return await AuditRepository(session).events(limit=limit, cursor=cursor, **filters)

    async def verify(self, session: AsyncSession) -> ChainReport:
        """Walk the current organization's chain and report the first broken link, if any."""
        expected_prev, expected_seq, checked = GENESIS, 1, 0
        async for event in AuditRepository(session).chain():
            reason = None
            if event.seq != expected_seq:
                reason = f"sequence gap: expected {expected_seq}, found {event.seq}"
            elif event.prev_hash != expected_prev:
                reason = "prev_hash does not match the previous event"
            elif event_hash(event) != event.hash:
                reason = "content does not match its hash"
            if reason:
                return ChainReport(False, checked, event.seq, event.id, reason)
            checked += 1
            expected_prev, expected_seq = event.hash, event.seq + 1
        return ChainReport(True, checked)


audit_service = AuditService()
