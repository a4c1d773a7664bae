"""Admitting one API request: who is calling (the API key, cached per process), whether they
may (the rate limits), and the request's transaction scoped to their organization, in as few
round trips as possible.

* Cache hit: one Redis round trip (the rate-limit script also returns the auth epoch), no lookup;
  the transaction is scoped to the cached key's organization while that script runs.
* Miss: the epoch from Redis, the key lookup in the request's transaction, the limits, the scope.

The epoch is a random token in Redis. Every change to what authentication reads (API keys,
memberships, users, organizations) replaces it twice: before its transaction commits (a failure
there rolls the change back) and again after (``before_commit`` / ``after_commit``), so that an
entry read from the old rows by another process in between is stale too. A cached key is used
only while the epoch it was read under is current, so a revoked key, a lowered role or a
deactivated member is refused on the very next request by every API process. Entries also
expire after ``ttl_s``: the bound on staleness should Redis fail between a commit and its second
replacement. Expiry and revocation are checked on every use (``actor_for``).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import secrets
import time
from collections import OrderedDict
from typing import Any

import redis
import redis.asyncio as aioredis
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from raylane.core.apikeys.models import ApiKey
from raylane.core.apikeys.service import KeyRecord, actor_for, find_key
from raylane.core.cache import Admission, Limit, RateLimiter
from raylane.core.config import Settings
from raylane.core.db.session import set_tenant
from raylane.core.errors import ServiceUnavailable
from raylane.core.rbac import Actor
from raylane.core.tenancy.models import Membership, Organization, User

log = logging.getLogger("raylane.auth")

EPOCH_KEY = "raylane:auth:epoch"
AUTH_CHANGED = "raylane.auth_changed"  # session.info flag: this transaction changed auth rows
MAX_ENTRIES = 10_000
_AUTH_MODELS = (ApiKey, Membership, User, Organization)


@event.listens_for(Session, "after_flush")
def _flag_changed_rows(session: Session, _context: Any) -> None:
    # New rows need no flag: no cache holds a key that did not exist.
    if any(isinstance(o, _AUTH_MODELS) for o in itertools.chain(session.dirty, session.deleted)):
        session.info[AUTH_CHANGED] = True


@event.listens_for(Session, "do_orm_execute")
def _flag_bulk_changes(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete) and any(
        m.class_ in _AUTH_MODELS for m in state.all_mappers
    ):
        state.session.info[AUTH_CHANGED] = True


async def _scope(session: AsyncSession, record: KeyRecord) -> None:
    await set_tenant(session, record.organization_id, platform=record.is_platform_admin)


class RequestGate:
    """Per-process: the key cache, the rate limits, and the epoch that keeps the cache honest."""

    def __init__(self, client: aioredis.Redis, settings: Settings) -> None:
        self._redis = client
        self._limiter = RateLimiter(client)
        self._settings = settings
        self._secret = settings.secret_key.get_secret_value()
        self._ttl = settings.api.auth_cache_s
        self._entries: OrderedDict[bytes, tuple[KeyRecord, bytes, float]] = OrderedDict()

    async def admit(
        self,
        session: AsyncSession,
        token: str,
        *,
        request_id: str | None = None,
        ip: str | None = None,
    ) -> tuple[Actor, Admission | None]:
        """The caller behind ``token``, admitted by the rate limits, with ``session``'s
        transaction scoped to the caller's organization.

        Raises:
            Unauthenticated: unknown, revoked or expired key, or an inactive membership.
            RateLimited: over the key's or the organization's limit.
            ServiceUnavailable: Redis unreachable (fail closed).
        """
        digest = hashlib.sha256(token.encode()).digest()  # the cache never holds a token
        cached = self._fresh(digest)
        if cached is None:
            record = await self._lookup(session, token, digest, await self._epoch())
            actor = actor_for(record, request_id=request_id, ip=ip)  # 401 before any limit
            admission, _ = await self._limit(record)
            await _scope(session, record)
            return actor, admission
        record, epoch = cached
        # Scoping a transaction reads nothing, and an error below rolls it back: the database's
        # round trips need not wait for Redis's.
        scoping = asyncio.ensure_future(_scope(session, record))
        try:
            admission, current = await self._limit(record, read_epoch=True)
        finally:
            await scoping  # before anything else uses the session
        if current != epoch:  # read before the lookup: it may tag the new entry
            record = await self._lookup(session, token, digest, current or await self._epoch())
            await _scope(session, record)  # from the rows as they are now (rare: one round trip)
        return actor_for(record, request_id=request_id, ip=ip), admission

    async def _lookup(
        self, session: AsyncSession, token: str, digest: bytes, epoch: bytes | None
    ) -> KeyRecord:
        """The key from the database, cached under ``epoch`` (read before this lookup)."""
        record = await find_key(session, token, secret=self._secret)
        self._store(digest, record, epoch)
        return record

    async def before_commit(self, session: AsyncSession) -> None:
        """Before the request's commit: if it changed auth rows, every cache must re-read."""
        await session.flush()
        if session.info.get(AUTH_CHANGED):
            await self.invalidate()

    async def after_commit(self, session: AsyncSession) -> None:
        if session.info.pop(AUTH_CHANGED, False):
            try:
                await self.invalidate()
            except ServiceUnavailable:
                log.warning(
                    "auth cache epoch not replaced after a commit; entries expire in %s s",
                    self._ttl,
                )

    async def invalidate(self) -> None:
        """Make every process's cached keys stale (and drop this process's at once)."""
        self._entries.clear()
        try:
            await self._redis.set(EPOCH_KEY, secrets.token_hex(16))
        except (redis.RedisError, OSError) as exc:
            raise ServiceUnavailable("auth cache unavailable (Redis unreachable)") from exc

    def _fresh(self, digest: bytes) -> tuple[KeyRecord, bytes] | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        record, epoch, stored_at = entry
        if time.monotonic() - stored_at > self._ttl:
            del self._entries[digest]
            return None
        return record, epoch

    def _store(self, digest: bytes, record: KeyRecord, epoch: bytes | None) -> None:
        if epoch is None or self._ttl <= 0:
            return  # no epoch to check against (Redis was reset): not cacheable
        self._entries[digest] = (record, epoch, time.monotonic())
        self._entries.move_to_end(digest)
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popitem(last=False)

    async def _epoch(self) -> bytes | None:
        try:
            epoch = await self._redis.get(EPOCH_KEY)
            if epoch is None:  # first use, or Redis lost its data: start a new one
                await self._redis.set(EPOCH_KEY, secrets.token_hex(16), nx=True)
                epoch = await self._redis.get(EPOCH_KEY)
        except (redis.RedisError, OSError) as exc:
            raise ServiceUnavailable("auth cache unavailable (Redis unreachable)") from exc
        return epoch.encode() if isinstance(epoch, str) else epoch

    async def _limit(
        self, record: KeyRecord, *, read_epoch: bool = False
    ) -> tuple[Admission | None, bytes | None]:
        rl = self._settings.rate_limit
        if not rl.enabled:
            return None, (await self._epoch() if read_epoch else None)
        admission = await self._limiter.admit(
            Limit(f"key:{record.key_id}", rl.key_per_minute, rl.key_burst),
            Limit(f"org:{record.organization_id}", rl.org_per_minute, rl.org_burst),
            read=EPOCH_KEY if read_epoch else None,
        )
        return admission, admission.read
