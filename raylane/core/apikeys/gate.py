"""Admitting one API request: who is calling (the API key, cached per process), whether they
may (the rate limits), and the request's transaction scoped to their organization, in as few
round trips as possible.

* Cache hit: one Redis round trip (the rate-limit script also returns the organization's auth
  epoch), no lookup; the transaction is scoped to the cached key's organization meanwhile.
* Miss: the change sequence from Redis, the key lookup in the request's transaction, the limits
  (returning the key's organization's epoch), the scope.

Each organization has its own epoch in Redis, ``<seq>:<random>``. Every change to what
authentication reads of an organization (its API keys, memberships, users, its own row) replaces
that organization's epoch, and only that one, twice: before its transaction commits (a failure
there rolls the change back) and again after (``before_commit`` / ``after_commit``), so that an
entry read from the old rows by another process in between is stale too. A cached key is used
only while its organization's epoch is the one it was read under, so a revoked key, a lowered
role or a deactivated member is refused on the very next request by every API process, and a
change in one organization costs the others nothing.

A miss learns the key's organization from the lookup itself, so it cannot read that
organization's epoch first. Instead it reads ``SEQ_KEY``, a counter every replacement takes its
``<seq>`` from, before the lookup; an epoch read after the lookup whose ``<seq>`` is not newer was
set before the lookup began, so it may tag the entry (if it is newer, the entry is not cached).
Entries also expire after ``ttl_s``: the bound on staleness should Redis fail between a commit and
its second replacement, or lose its data. Expiry and revocation are checked on every use
(``actor_for``).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Iterable
from typing import Any

import redis
import redis.asyncio as aioredis
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from raylane.config import Settings
from raylane.core.apikeys.models import ApiKey
from raylane.core.apikeys.repository import ApiKeyRepository
from raylane.core.apikeys.service import KeyRecord, actor_for, find_key
from raylane.core.rbac import Actor
from raylane.core.tenancy.models import Membership, Organization, User
from raylane.errors import ServiceUnavailable
from raylane.infra.db.session import set_tenant
from raylane.infra.ratelimit import Admission, Limit, RateLimiter

log = logging.getLogger("raylane.auth")

EPOCH_PREFIX = "raylane:auth:epoch:"
SEQ_KEY = "raylane:auth:seq"
# session.info: the organizations whose auth rows this transaction changed (None: the one the
# transaction is scoped to, for bulk statements); and that scope, as the gate set it.
AUTH_CHANGED = "raylane.auth_changed"
SCOPE = "raylane.auth_scope"
MAX_ENTRIES = 10_000
_AUTH_MODELS = (ApiKey, Membership, User, Organization)

# Replace the epochs of KEYS[2..] with one new ``<seq>:<token>`` (KEYS[1] is the sequence).
_REPLACE = """
local seq = redis.call('INCR', KEYS[1])
for i = 2, #KEYS do redis.call('SET', KEYS[i], seq .. ':' .. ARGV[1]) end
return seq
"""
# An organization's epoch, created from the current sequence if Redis has none (first use, or
# data lost): the sequence it carries is not newer than any reader's who began before now.
_ENSURE = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = (redis.call('GET', KEYS[2]) or '0') .. ':' .. ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
return epoch
"""


def epoch_key(organization_id: uuid.UUID) -> str:
    return f"{EPOCH_PREFIX}{organization_id}"


def _organization_of(row: object) -> uuid.UUID | None:
    if isinstance(row, Organization):
        return row.id
    return getattr(row, "organization_id", None)


@event.listens_for(Session, "after_flush")
def _flag_changed_rows(session: Session, _context: Any) -> None:
    # New rows need no flag: no cache holds a key that did not exist.
    changed = [
        _organization_of(o)
        for o in itertools.chain(session.dirty, session.deleted)
        if isinstance(o, _AUTH_MODELS)
    ]
    if changed:
        session.info.setdefault(AUTH_CHANGED, set()).update(changed)


@event.listens_for(Session, "do_orm_execute")
def _flag_bulk_changes(state: ORMExecuteState) -> None:
    # Which rows a bulk statement touches is not known here; row-level security confines it to
    # the organization the transaction is scoped to (resolved in ``_changed``).
    if (state.is_update or state.is_delete) and any(
        m.class_ in _AUTH_MODELS for m in state.all_mappers
    ):
        state.session.info.setdefault(AUTH_CHANGED, set()).add(None)


def _seq(epoch: bytes | None) -> int | None:
    head = (epoch or b"").partition(b":")[0]
    return int(head) if head.isdigit() else None


async def _scope(session: AsyncSession, record: KeyRecord) -> None:
    await set_tenant(session, record.organization_id, platform=record.is_platform_admin)
    session.info[SCOPE] = (record.organization_id, record.is_platform_admin)


def _changed(session: AsyncSession) -> set[uuid.UUID] | None:
    """The organizations whose caches this transaction's changes reach; None: all of them (a
    bulk change in a transaction with platform reach, or with no scope the gate set)."""
    orgs: set[uuid.UUID | None] = session.info.get(AUTH_CHANGED) or set()
    if None not in orgs:
        return {o for o in orgs if o is not None}
    scope = session.info.get(SCOPE)
    if scope is None or scope[1]:
        return None
    return {o for o in orgs if o is not None} | {scope[0]}


class RequestGate:
    """Per-process: the key cache, the rate limits, and the epoch that keeps the cache honest."""

    def __init__(self, client: aioredis.Redis, settings: Settings) -> None:
        self._redis = client
        self._limiter = RateLimiter(client)
        self._settings = settings
        self._secret = settings.secret_key.get_secret_value()
        self._ttl = settings.api.auth_cache_s
        self._entries: OrderedDict[bytes, tuple[KeyRecord, bytes, float]] = OrderedDict()
        self._replace = client.register_script(_REPLACE)
        self._ensure = client.register_script(_ENSURE)

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
            since = await self._redis_call(self._redis.get(SEQ_KEY))  # before the lookup
            record = await find_key(session, token, secret=self._secret)
            actor = actor_for(record, request_id=request_id, ip=ip)  # 401 before any limit
            admission, epoch = await self._limit(record)
            seq, began = _seq(epoch), _seq(since) or 0
            if seq is not None and seq <= began:  # not replaced since the lookup began
                self._store(digest, record, epoch)
            await _scope(session, record)
            return actor, admission
        record, epoch = cached
        # Scoping a transaction reads nothing, and an error below rolls it back: the database's
        # round trips need not wait for Redis's.
        scoping = asyncio.ensure_future(_scope(session, record))
        try:
            admission, current = await self._limit(record)
        finally:
            await scoping  # before anything else uses the session
        if current != epoch:  # read before the lookup: it may tag the new entry
            record = await find_key(session, token, secret=self._secret)
            self._store(digest, record, current)
            await _scope(session, record)  # from the rows as they are now (rare: one round trip)
        return actor_for(record, request_id=request_id, ip=ip), admission

    async def before_commit(self, session: AsyncSession) -> None:
        """Before the request's commit: if it changed auth rows, those organizations' caches
        must re-read."""
        await ApiKeyRepository(session).flush()  # pending changes land, and are flagged, now
        if session.info.get(AUTH_CHANGED):
            await self.invalidate(_changed(session))

    async def after_commit(self, session: AsyncSession) -> None:
        if session.info.get(AUTH_CHANGED):
            organizations = _changed(session)
            session.info.pop(AUTH_CHANGED)
            try:
                await self.invalidate(organizations)
            except ServiceUnavailable:
                log.warning(
                    "auth cache epoch not replaced after a commit; entries expire in %s s",
                    self._ttl,
                )

    async def invalidate(self, organizations: Iterable[uuid.UUID] | None) -> None:
        """Make every process's cached keys of ``organizations`` (None: of all) stale, and drop
        this process's at once."""
        orgs = None if organizations is None else set(organizations)
        if orgs is None:
            self._entries.clear()
        else:
            for digest in [d for d, e in self._entries.items() if e[0].organization_id in orgs]:
                del self._entries[digest]
        if orgs == set():
            return
        token = secrets.token_hex(16)
        if orgs is not None:
            keys = [SEQ_KEY, *(epoch_key(o) for o in sorted(orgs))]
            await self._redis_call(self._replace(keys=keys, args=[token]))
            return
        # Every organization (rare): the sequence first, so that an epoch created after it
        # carries the new value (see _ENSURE), then every epoch there is.
        try:
            seq = await self._redis.incr(SEQ_KEY)
            keys = [k async for k in self._redis.scan_iter(match=f"{EPOCH_PREFIX}*", count=1000)]
            if keys:
                await self._redis.mset({k: f"{seq}:{token}" for k in keys})
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
            return
        self._entries[digest] = (record, epoch, time.monotonic())
        self._entries.move_to_end(digest)
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popitem(last=False)

    async def _epoch(self, organization_id: uuid.UUID) -> bytes:
        """The organization's epoch, created if Redis has none."""
        keys = [epoch_key(organization_id), SEQ_KEY]
        epoch = await self._redis_call(self._ensure(keys=keys, args=[secrets.token_hex(16)]))
        return epoch.encode() if isinstance(epoch, str) else bytes(epoch)

    @staticmethod
    async def _redis_call(call: Awaitable[Any]) -> Any:
        try:
            return await call
        except (redis.RedisError, OSError) as exc:
            raise ServiceUnavailable("auth cache unavailable (Redis unreachable)") from exc

    async def _limit(self, record: KeyRecord) -> tuple[Admission | None, bytes]:
        """The limits, and the key's organization's epoch in the same round trip."""
        rl = self._settings.rate_limit
        if not rl.enabled:
            return None, await self._epoch(record.organization_id)
        admission = await self._limiter.admit(
            Limit(f"key:{record.key_id}", rl.key_per_minute, rl.key_burst),
            Limit(f"org:{record.organization_id}", rl.org_per_minute, rl.org_burst),
            read=epoch_key(record.organization_id),
        )
        # None only on first use or after Redis lost its data: create it (a second round trip).
        return admission, admission.read or await self._epoch(record.organization_id)
