"""Stored objects follow their rows: removed only after the commit that dropped the last row
pointing at them, and never left behind by an upload that did not commit.

The outbox (``object_deletions``) names objects that may have lost their last document:

- a replace or a delete writes its rows in the request's own transaction, so a rollback takes
  them back and the object stays; once that transaction commits they are drained at once;
- an upload records the keys it is about to write in a transaction of its own, committed before
  the write, and removes those records in the request's transaction: if the request never
  commits (an error, a crash, a lost connection), the records remain and the objects go.

A drain deletes an object only while no document refers to its key, checked under a per-key
advisory lock that an upload holds from before its write until its commit. So a drain never
removes the object of an upload in flight, nor one re-uploaded since the row was written, and
an acknowledged upload is never lost. What a drain cannot delete (storage down) stays with a
backoff; the sweeper (the run reconciler's loop) retries every organization's due rows.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.util import await_

from raylane.core.collections.models import DeletionReason
from raylane.core.collections.repository import DocumentRepository, ObjectDeletionRepository
from raylane.infra.db.session import session_scope, set_tenant
from raylane.infra.storage import ObjectStore, store_from_settings

if TYPE_CHECKING:
    from raylane.config import Settings
    from raylane.infra.db.session import Database

log = logging.getLogger(__name__)

BATCH = 100  # rows per drain transaction
RETRY_BASE_S = 30.0  # a failed deletion is retried after 30 s, 60 s, ... up to an hour
RETRY_MAX_S = 3600.0
_PENDING = "raylane.object_deletions"  # session.info: drains to run when the transaction commits
_HOOKED = "raylane.object_deletions_hooked"

OpenSession = Callable[[], AbstractAsyncContextManager[AsyncSession]]


@dataclass(frozen=True)
class _Drain:
    bind: AsyncEngine
    store: ObjectStore
    organization_id: uuid.UUID
    deletion_ids: list[uuid.UUID]


async def record_uploads(
    session: AsyncSession, *, organization_id: uuid.UUID, object_keys: Sequence[str]
) -> list[uuid.UUID]:
    """Before writing new objects: mark them "delete unless committed".

    The keys are locked in the request's transaction first (so no drain touches them until it
    ends), then recorded in a transaction of their own that commits now. The caller writes the
    objects and, in its transaction, removes the records (``ObjectDeletionRepository.remove``):
    if that transaction never commits, the records outlive it and the objects are removed.

    Returns:
        The ids of the records, for the caller to remove.
    """
    keys = sorted(set(object_keys))  # one order for every locker: no deadlock between uploads
    if not keys:
        return []
    outbox = ObjectDeletionRepository(session)
    for key in keys:
        await outbox.lock_key(key)
    async with _scoped(_bind(session), organization_id) as own:
        return await ObjectDeletionRepository(own).enqueue(
            organization_id=organization_id, object_keys=keys, reason=DeletionReason.UPLOAD
        )


async def delete_after_commit(
    session: AsyncSession,
    *,
    store: ObjectStore,
    organization_id: uuid.UUID,
    object_keys: Sequence[str],
    reason: DeletionReason,
) -> None:
    """Schedule objects for deletion once the session's transaction commits.

    The outbox rows are written in that transaction (a rollback takes them back, and the objects
    stay); after the commit they are drained before the commit call returns. A drain that fails
    is left to the sweeper, never to the caller: its rows are already committed.
    """
    ids = await ObjectDeletionRepository(session).enqueue(
        organization_id=organization_id, object_keys=list(object_keys), reason=reason
    )
    if not ids:
        return
    info = session.info
    info.setdefault(_PENDING, []).append(_Drain(_bind(session), store, organization_id, ids))
    if not info.get(_HOOKED):
        event.listen(session.sync_session, "after_commit", _after_commit)
        event.listen(session.sync_session, "after_rollback", _after_rollback)
        info[_HOOKED] = True


def _bind(session: AsyncSession) -> AsyncEngine:
    bind = session.bind
    assert isinstance(bind, AsyncEngine), "sessions are bound to the platform's engine"
    return bind


def _after_commit(sync_session: Session) -> None:
    if sync_session.get_nested_transaction() is not None:
        return  # a savepoint was released: the transaction itself may still roll back
    drains: list[_Drain] = sync_session.info.pop(_PENDING, [])
    if not drains:
        return
    try:
        # Commit runs in SQLAlchemy's greenlet, so the drain can be awaited here: the caller's
        # commit returns once the objects are gone, as the inline deletes it replaces did.
        await_(_run(drains))
    except Exception:  # the rows are committed: the sweeper finishes what this could not
        log.warning("object deletions left to the sweeper", exc_info=True)


def _after_rollback(sync_session: Session) -> None:
    if sync_session.get_nested_transaction() is None:
        sync_session.info.pop(_PENDING, None)


async def _run(drains: list[_Drain]) -> None:
    for d in drains:
        for start in range(0, len(d.deletion_ids), BATCH):
            await drain(
                partial(_scoped, d.bind, d.organization_id),
                d.store,
                deletion_ids=d.deletion_ids[start : start + BATCH],
            )


@asynccontextmanager
async def _scoped(bind: AsyncEngine, organization_id: uuid.UUID) -> AsyncIterator[AsyncSession]:
    """A transaction of its own on the caller's engine, scoped to the organization."""
    session = AsyncSession(bind=bind, expire_on_commit=False)
    try:
        await set_tenant(session, organization_id)
        yield session
        await session.commit()
    finally:
        await session.close()


async def drain(
    open_session: OpenSession,
    store: ObjectStore,
    *,
    deletion_ids: Sequence[uuid.UUID] | None = None,
    limit: int = BATCH,
) -> int:
    """Delete the objects of outbox rows (the given ones, or the organization's due ones).

    ``open_session`` opens one transaction scoped to the organization. Rows another drain holds,
    keys an upload holds, are skipped; a key a document refers to again keeps its object (the
    row goes). Returns how many rows were settled.
    """
    async with open_session() as session:
        outbox = ObjectDeletionRepository(session)
        rows = await outbox.claim(deletion_ids=deletion_ids, limit=limit)
        free = [row for row in rows if await outbox.try_lock_key(row[1])]
        kept = await DocumentRepository(session).referencing([key for _, key, _ in free])
        doomed = [row for row in free if row[1] not in kept]
        results = await asyncio.gather(
            *(asyncio.to_thread(store.delete, key) for _, key, _ in doomed),
            return_exceptions=True,
        )
        failed: dict[uuid.UUID, tuple[int, BaseException]] = {
            row_id: (attempts, result)
            for (row_id, _, attempts), result in zip(doomed, results, strict=True)
            if isinstance(result, BaseException)
        }
        await outbox.remove([row_id for row_id, _, _ in free if row_id not in failed])
        for row_id, (attempts, exc) in failed.items():
            log.warning("object deletion failed", extra={"deletion_id": str(row_id)}, exc_info=exc)
            delay = min(RETRY_BASE_S * 2**attempts, RETRY_MAX_S)
            await outbox.retry_later(row_id, error=repr(exc), delay_s=delay)
        return len(free) - len(failed)


async def sweep_object_deletions(
    settings: Settings,
    *,
    db: Database | None = None,
    store: ObjectStore | None = None,
    limit: int = BATCH,
) -> int:
    """One sweeper pass: drain the due outbox rows of every organization (``limit`` of each, for
    up to ``limit`` organizations). Never raises: a periodic loop calls it.

    Args:
        settings: where the store is (unless ``store`` is given).
        db: the database to use; by default the process's ``session_scope`` engine.
        store: the object store; by default the one ``settings`` names.

    Returns:
        How many outbox rows were settled.
    """
    opener: Callable[..., AbstractAsyncContextManager[AsyncSession]] = (
        db.session if db is not None else session_scope
    )
    try:
        async with opener() as session:
            organizations = await ObjectDeletionRepository(session).organizations_due(limit)
        if organizations:
            store = store or store_from_settings(settings)
    except Exception:  # the database may be briefly away; the next pass tries again
        log.exception("object deletion sweep failed")
        return 0
    settled = 0
    for organization_id in organizations:
        assert store is not None
        try:
            settled += await drain(
                partial(opener, organization_id=organization_id), store, limit=limit
            )
        except Exception:  # one organization's trouble must not stall the others
            log.exception("object deletion sweep failed", extra=_org(organization_id))
    return settled


def _org(organization_id: uuid.UUID) -> dict[str, Any]:
    return {"organization_id": str(organization_id)}
