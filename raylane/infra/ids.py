"""Time-ordered UUIDs (version 7), so keyset pages follow creation order."""

from __future__ import annotations

import os
import threading
import time
import uuid

_RANDOM_BITS = 74  # rand_a (12) + rand_b (62)
_lock = threading.Lock()
_last = (0, 0)  # (milliseconds, 74-bit counter) of this process's latest id


def uuid7() -> uuid.UUID:
    """A UUIDv7: 48-bit Unix milliseconds, then 74 bits (RFC 9562).

    The 74 bits start random; ids made by one process within the same millisecond (a chat's
    question and answer, say) continue from the last one plus one, so they sort in the order
    they were made (RFC 9562 §6.2, monotonic random).
    """
    global _last
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big") >> (80 - _RANDOM_BITS)
    with _lock:
        last_ms, last_rand = _last
        if ms <= last_ms:  # same millisecond, or the clock stepped back
            ms, rand = last_ms, last_rand + 1
            if rand >> _RANDOM_BITS:  # counter spent: borrow the next millisecond
                ms, rand = ms + 1, 0
        _last = (ms, rand)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (rand >> 62) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)
