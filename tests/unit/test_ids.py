"""Time-ordered ids (UUIDv7)."""

from __future__ import annotations

import time
import uuid

from raylane.infra.ids import uuid7


def test_uuid7_is_time_ordered_and_versioned() -> None:
    ids = [uuid7() for _ in range(500)]
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert len(set(ids)) == 500
    stamps = [i.int >> 80 for i in ids]
    assert stamps == sorted(stamps)
    assert abs(stamps[0] - time.time_ns() // 1_000_000) < 5_000  # milliseconds, now


def test_uuid7_made_in_one_millisecond_sort_in_the_order_made() -> None:
    ids = [uuid7() for _ in range(5_000)]  # many per millisecond
    assert len({i.int >> 80 for i in ids}) < len(ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
