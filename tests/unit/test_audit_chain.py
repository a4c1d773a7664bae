"""The audit chain's event hash."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from raylane.core.audit.models import AuditEvent
from raylane.core.audit.service import GENESIS, event_hash


def _event(**kw: object) -> AuditEvent:
    base = dict(
        organization_id=uuid.UUID(int=1),
        seq=1,
        actor_type="user",
        actor_id=uuid.UUID(int=2),
        api_key_id=None,
        action="project.create",
        target_type="project",
        target_id="p1",
        summary={"after": {"name": "a"}},
        request_id="r",
        ip="127.0.0.1",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        prev_hash=GENESIS,
    )
    return AuditEvent(**(base | kw))


class TestAuditHash:
    def test_hash_is_deterministic_and_covers_every_field(self) -> None:
        ref = event_hash(_event())
        assert ref == event_hash(_event())
        for change in [
            {"seq": 2},
            {"action": "project.delete"},
            {"summary": {"after": {"name": "b"}}},
            {"prev_hash": "1" * 64},
            {"ip": "10.0.0.1"},
            {"actor_id": uuid.UUID(int=3)},
            {"created_at": datetime(2026, 1, 2, tzinfo=UTC)},
            {"organization_id": uuid.UUID(int=9)},
        ]:
            assert event_hash(_event(**change)) != ref, change
