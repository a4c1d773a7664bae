"""Runs, background work (such as an ingest) with a status, progress and logs: request shapes,
the polling rules of ``wait``, and the sync and async groups."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Final, TypeVar

from raylane.client._resources import (
    DEFAULT_PAGE_SIZE,
    AsyncResource,
    Call,
    Collection,
    Ident,
    SyncResource,
)
from raylane.client.errors import (
    APIConnectionError,
    RateLimited,
    RaylaneError,
    RunFailed,
    ServiceUnavailable,
)
from raylane.schemas.common import Page
from raylane.schemas.runs import TERMINAL_STATUSES, RunLogs, RunRead, RunStatusName

R = TypeVar("R")

RUN_STATUSES: Final = (
    "queued",
    "running",
    "cancelling",
    "succeeded",
    "failed",
    "dead_lettered",
    "cancelled",
)
TERMINAL: Final = TERMINAL_STATUSES
# Polls that may fail in a row (a replica restarting, a brief network loss) before giving up.
WAIT_RETRIES: Final = 30
# Tries of a run-creating request on a transient failure: safe, they carry one Idempotency-Key.
CREATE_TRIES: Final = 3
CREATE_RETRY_S: Final = 0.5

RUNS: Final = Collection("/api/v1/runs", RunRead)


def idempotent(call: Call[R], key: str | None) -> Call[R]:
    """``call`` with an ``Idempotency-Key`` header: ``key``, or a new random one, so every
    try of this one request (see :func:`send_creation`) names the same run."""
    return dataclasses.replace(call, headers={"Idempotency-Key": key or str(uuid.uuid4())})


def _transient(exc: RaylaneError) -> bool:
    return isinstance(exc, APIConnectionError | ServiceUnavailable | RateLimited)


def send_creation(run: Callable[[Call[R]], R], call: Call[R]) -> R:
    """Send a run-creating ``call`` (already :func:`idempotent`), retrying transient
    failures: the server answers a retry of a request it did take with the same run."""
    for attempt in range(1, CREATE_TRIES + 1):
        try:
            return run(call)
        except RaylaneError as exc:
            if not _transient(exc) or attempt == CREATE_TRIES:
                raise
            wait = exc.retry_after if isinstance(exc, RateLimited) else None
            time.sleep(wait or CREATE_RETRY_S * attempt)
    raise AssertionError("unreachable")


async def asend_creation(run: Callable[[Call[R]], Awaitable[R]], call: Call[R]) -> R:
    """Async form of :func:`send_creation`."""
    for attempt in range(1, CREATE_TRIES + 1):
        try:
            return await run(call)
        except RaylaneError as exc:
            if not _transient(exc) or attempt == CREATE_TRIES:
                raise
            wait = exc.retry_after if isinstance(exc, RateLimited) else None
            await asyncio.sleep(wait or CREATE_RETRY_S * attempt)
    raise AssertionError("unreachable")


class _Runs:
    """The request shapes of ``/runs`` that are more than a :class:`Collection` call;
    both resource groups below send them."""

    @staticmethod
    def logs(run_id: Ident, offset: int = 0) -> Call[RunLogs]:
        """``GET /runs/{id}/logs?offset=``."""
        params = {"offset": offset} if offset else None
        return Call("GET", f"{RUNS.item(run_id)}/logs", RunLogs.model_validate, params=params)

    @staticmethod
    def replay(run_id: Ident, key: str | None) -> Call[RunRead]:
        """``POST /runs/{id}/replay`` with an ``Idempotency-Key``: 202 and the new run."""
        return idempotent(Call("POST", f"{RUNS.item(run_id)}/replay", RunRead.model_validate), key)

    @staticmethod
    def cancel(run_id: Ident) -> Call[RunRead]:
        """``POST /runs/{id}/cancel``: the run after the request (``cancelling`` or final)."""
        return Call("POST", f"{RUNS.item(run_id)}/cancel", RunRead.model_validate)

    @staticmethod
    def filters(
        kind: str | None, status: RunStatusName | None, project_id: Ident | None
    ) -> dict[str, Any]:
        """The run list filters under their query-parameter names (None: not filtered)."""
        return {"kind": kind, "status": status, "project_id": project_id}


class Poller:
    """The clock and rules of one ``runs.wait``: when to stop, how long to pause, which
    failed polls to retry. The sync and async waits only add the sleeping."""

    def __init__(
        self,
        run_id: Ident,
        *,
        timeout: float | None,
        poll: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if poll < 0:
            raise ValueError("poll must be >= 0 seconds")
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must be >= 0 seconds")
        self.run_id, self.timeout, self.poll, self._clock = run_id, timeout, poll, clock
        self._deadline = None if timeout is None else clock() + timeout
        self._failures = 0
        self._status = "unknown"

    def finished(self, run: RunRead) -> bool:
        """Whether ``run`` is over and succeeded.

        Raises:
            RunFailed: it ended ``failed`` or ``cancelled``.
        """
        self.polled(run.status)
        if run.status not in TERMINAL:
            return False
        if run.status != "succeeded":
            raise RunFailed(run)
        return True

    def polled(self, status: str) -> None:
        """A poll answered: the run is ``status`` and the failures in a row start over."""
        self._failures, self._status = 0, status

    def pause(self, at_least: float = 0.0) -> float:
        """Seconds to sleep before the next poll.

        Raises:
            TimeoutError: the timeout has passed.
        """
        delay = max(self.poll, at_least)
        if self._deadline is None:
            return delay
        left = self._deadline - self._clock()
        if left <= 0:
            raise TimeoutError(f"run {self.run_id} still {self._status} after {self.timeout:g}s")
        return min(delay, left)

    def retry(self, exc: RaylaneError) -> float:
        """Seconds to sleep before polling again after ``exc``.

        Raises:
            RaylaneError: ``exc`` itself when it is not transient (a 404, a 403...) or when
                too many polls in a row have failed.
            TimeoutError: the timeout has passed.
        """
        transient = isinstance(exc, APIConnectionError | ServiceUnavailable | RateLimited)
        self._failures += 1
        if not transient or self._failures > WAIT_RETRIES:
            raise exc
        wait = exc.retry_after if isinstance(exc, RateLimited) else None
        return self.pause(wait or 0.0)


class LogFollower:
    """Where a log follower stands: the attempt (Ray job) it reads and how far. The sync and
    async ``follow_logs`` only add the polling."""

    def __init__(self) -> None:
        self.job: str | None = None
        self.offset = 0
        self.ended = False

    def take(self, piece: RunLogs) -> RunLogs | None:
        """The part of ``piece`` to show, or None when it belongs to another attempt than the
        one read so far and that attempt's log must be read again from 0."""
        if piece.ray_job_id != self.job:
            self.job = piece.ray_job_id
            if self.offset:
                self.offset = 0
                return None
        self.offset = piece.next_offset
        self.ended = (piece.status or "") in TERMINAL
        return piece


class Runs(SyncResource):
    """Runs: background work (such as an ingest) with a status, progress and logs."""

    def list(
        self,
        *,
        kind: str | None = None,
        status: RunStatusName | None = None,
        project_id: Ident | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[RunRead]:
        """One page of runs, newest first, matching every filter given."""
        filters = _Runs.filters(kind, status, project_id)
        return self._run(RUNS.list(limit=limit, cursor=cursor, **filters))

    def iter(
        self,
        *,
        kind: str | None = None,
        status: RunStatusName | None = None,
        project_id: Ident | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[RunRead]:
        """Every matching run, newest first; the filters are those of :meth:`list`."""
        filters = _Runs.filters(kind, status, project_id)
        return self._pages(lambda cursor: RUNS.list(limit=page_size, cursor=cursor, **filters))

    def get(self, run_id: Ident) -> RunRead:
        """Get one run: status, attempts and ``progress`` (``documents_done``,
        ``documents_total``, ``chunks_done``, ``chunks_total``, ``updated_at``).

        Raises:
            NotFound: it does not exist or belongs to another organization.
        """
        return self._run(RUNS.get(run_id))

    def logs(self, run_id: Ident, *, offset: int = 0) -> RunLogs:
        """The logs of the run's latest attempt, from character ``offset`` on (pass the
        previous answer's ``next_offset`` to get only what was written since).

        Raises:
            NotFound: it does not exist or belongs to another organization.
        """
        return self._run(_Runs.logs(run_id, offset))

    def follow_logs(
        self, run_id: Ident, *, poll: float = 1.0, timeout: float | None = None
    ) -> Iterator[RunLogs]:
        """Follow a run's logs until it ends: yields each new piece once (``.logs``), and a
        last piece carrying the final ``.status``. A new attempt's log follows from its start.

        Transient poll failures are retried as in :meth:`wait`.

        Raises:
            TimeoutError: the run had not ended after ``timeout`` seconds (it goes on).
            NotFound: it does not exist or belongs to another organization.
        """
        poller, follow = Poller(run_id, timeout=timeout, poll=poll), LogFollower()
        while True:
            try:
                piece = self.logs(run_id, offset=follow.offset)
            except RaylaneError as exc:
                time.sleep(poller.retry(exc))
                continue
            poller.polled(piece.status or "unknown")
            shown = follow.take(piece)
            if shown is None:
                continue  # a new attempt: read its log from the start at once
            if shown.logs or follow.ended:
                yield shown
            if follow.ended:
                return
            time.sleep(poller.pause())

    def replay(self, run_id: Ident, *, idempotency_key: str | None = None) -> RunRead:
        """Replay a dead-lettered run: a new run with the same kind, target and params and
        fresh attempts, whose ``replay_of`` is ``run_id``.

        Args:
            idempotency_key: Names this request, so a retry cannot start a second chain
                (default: a new random key, kept across this call's own retries).

        Returns:
            The new run, ``queued``.

        Raises:
            NotFound: it does not exist or belongs to another organization.
            Conflict: it is not dead-lettered, or was replayed already.
        """
        return send_creation(self._run, _Runs.replay(run_id, idempotency_key))

    def cancel(self, run_id: Ident) -> RunRead:
        """Cancel a run: a queued one ends now, a running one once its job has stopped.

        Returns:
            The run after the request: ``cancelling``, ``cancelled``, or unchanged when it
            had already ended.

        Raises:
            NotFound: it does not exist or belongs to another organization.
        """
        return self._run(_Runs.cancel(run_id))

    def wait(
        self,
        run_id: Ident,
        *,
        timeout: float | None = None,
        poll: float = 1.0,
        on_progress: Callable[[RunRead], object] | None = None,
    ) -> RunRead:
        """Poll a run until it ends.

        Up to three failed polls in a row are retried when the failure is transient
        (unreachable server, 503, 429 after its ``Retry-After``).

        Args:
            run_id: The run to follow.
            timeout: Seconds to wait at most (default: no limit).
            poll: Seconds between polls.
            on_progress: Called with the run after every poll, the last one included.

        Returns:
            The run, ``succeeded``.

        Raises:
            RunFailed: the run ended ``failed`` or ``cancelled``; ``.run`` is its final state.
            TimeoutError: it had not ended after ``timeout`` seconds (the run goes on).
            NotFound: it does not exist or belongs to another organization.
            ValueError: ``poll`` or ``timeout`` is negative.
        """
        poller = Poller(run_id, timeout=timeout, poll=poll)
        while True:
            try:
                run = self.get(run_id)
            except RaylaneError as exc:
                time.sleep(poller.retry(exc))
                continue
            if on_progress is not None:
                on_progress(run)
            if poller.finished(run):
                return run
            time.sleep(poller.pause())


class AsyncRuns(AsyncResource, twin=Runs):
    """Async form of :class:`raylane.client.data.Runs`; ``on_progress`` of :meth:`wait` may
    also be a coroutine function."""

    async def list(
        self,
        *,
        kind: str | None = None,
        status: RunStatusName | None = None,
        project_id: Ident | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[RunRead]:
        filters = _Runs.filters(kind, status, project_id)
        return await self._run(RUNS.list(limit=limit, cursor=cursor, **filters))

    def iter(
        self,
        *,
        kind: str | None = None,
        status: RunStatusName | None = None,
        project_id: Ident | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[RunRead]:
        filters = _Runs.filters(kind, status, project_id)
        return self._pages(lambda cursor: RUNS.list(limit=page_size, cursor=cursor, **filters))

    async def get(self, run_id: Ident) -> RunRead:
        return await self._run(RUNS.get(run_id))

    async def logs(self, run_id: Ident, *, offset: int = 0) -> RunLogs:
        return await self._run(_Runs.logs(run_id, offset))

    async def follow_logs(
        self, run_id: Ident, *, poll: float = 1.0, timeout: float | None = None
    ) -> AsyncIterator[RunLogs]:
        poller, follow = Poller(run_id, timeout=timeout, poll=poll), LogFollower()
        while True:
            try:
                piece = await self.logs(run_id, offset=follow.offset)
            except RaylaneError as exc:
                await asyncio.sleep(poller.retry(exc))
                continue
            poller.polled(piece.status or "unknown")
            shown = follow.take(piece)
            if shown is None:
                continue
            if shown.logs or follow.ended:
                yield shown
            if follow.ended:
                return
            await asyncio.sleep(poller.pause())

    async def replay(self, run_id: Ident, *, idempotency_key: str | None = None) -> RunRead:
        return await asend_creation(self._run, _Runs.replay(run_id, idempotency_key))

    async def cancel(self, run_id: Ident) -> RunRead:
        return await self._run(_Runs.cancel(run_id))

    async def wait(
        self,
        run_id: Ident,
        *,
        timeout: float | None = None,
        poll: float = 1.0,
        on_progress: Callable[[RunRead], object | Awaitable[object]] | None = None,
    ) -> RunRead:
        poller = Poller(run_id, timeout=timeout, poll=poll)
        while True:
            try:
                run = await self.get(run_id)
            except RaylaneError as exc:
                await asyncio.sleep(poller.retry(exc))
                continue
            if on_progress is not None:
                result = on_progress(run)
                if isinstance(result, Awaitable):
                    await result
            if poller.finished(run):
                return run
            await asyncio.sleep(poller.pause())
