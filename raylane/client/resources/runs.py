"""Runs, background work (such as an ingest) with a status, progress and logs: request shapes,
the polling rules of ``wait``, and the sync and async groups."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Final

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
from raylane.schemas.runs import RunLogs, RunRead

RUN_STATUSES: Final = ("queued", "running", "cancelling", "succeeded", "failed", "cancelled")
TERMINAL: Final = frozenset({"succeeded", "failed", "cancelled"})
# Polls that may fail in a row (a replica restarting, a brief network loss) before giving up.
WAIT_RETRIES: Final = 30

RUNS: Final = Collection("/api/v1/runs", RunRead)


class _Runs:
    """The request shapes of ``/runs`` that are more than a :class:`Collection` call;
    both resource groups below send them."""

    @staticmethod
    def logs(run_id: Ident) -> Call[RunLogs]:
        """``GET /runs/{id}/logs``."""
        return Call("GET", f"{RUNS.item(run_id)}/logs", RunLogs.model_validate)

    @staticmethod
    def cancel(run_id: Ident) -> Call[RunRead]:
        """``POST /runs/{id}/cancel``: the run after the request (``cancelling`` or final)."""
        return Call("POST", f"{RUNS.item(run_id)}/cancel", RunRead.model_validate)

    @staticmethod
    def filters(kind: str | None, status: str | None, project_id: Ident | None) -> dict[str, Any]:
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
        self._failures, self._status = 0, run.status
        if run.status not in TERMINAL:
            return False
        if run.status != "succeeded":
            raise RunFailed(run)
        return True

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


class Runs(SyncResource):
    """Runs: background work (such as an ingest) with a status, progress and logs."""

    def list(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
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
        status: str | None = None,
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

    def logs(self, run_id: Ident) -> RunLogs:
        """The logs of the run's latest attempt.

        Raises:
            NotFound: it does not exist or belongs to another organization.
        """
        return self._run(_Runs.logs(run_id))

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
        status: str | None = None,
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
        status: str | None = None,
        project_id: Ident | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[RunRead]:
        filters = _Runs.filters(kind, status, project_id)
        return self._pages(lambda cursor: RUNS.list(limit=page_size, cursor=cursor, **filters))

    async def get(self, run_id: Ident) -> RunRead:
        return await self._run(RUNS.get(run_id))

    async def logs(self, run_id: Ident) -> RunLogs:
        return await self._run(_Runs.logs(run_id))

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
