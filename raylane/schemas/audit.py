"""Audit events and the chain verifier's report."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from raylane.schemas.common import Output


class AuditEventRead(Output):
    id: uuid.UUID
    seq: int
    actor_type: str
    actor_id: uuid.UUID | None
    api_key_id: uuid.UUID | None
    action: str
    target_type: str
    target_id: str
    summary: dict[str, Any]
    request_id: str | None
    ip: str | None
    created_at: datetime
    prev_hash: str
    hash: str


class AuditVerifyRead(Output):
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    first_broken_id: uuid.UUID | None = None
    reason: str | None = None
