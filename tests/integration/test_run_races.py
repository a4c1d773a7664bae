"""Run state races and scheduling fairness, on real embedded Postgres with real sessions.

Two reconcilers, API cancels and job closes run at once, each in its own transaction. Ray is
replaced by a recording fake of ``compute``'s submit/stop/status functions: the races under test
are in the database (who writes a run's status, and when), and the fake is what lets a test
hold a submission open until a cancel is queued behind it, or finish a job right after Ray was
asked to stop it. Everything else (reconcile, the service, the job's open/close) is real.
"""

from __future__ import annotations

import asyncio
import random
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from raylane.config import RunSettings, Settings
from raylane.core.rbac import Actor, Role
from raylane.core.runs import reconcile
from raylane.core.runs.models import Run, RunKind, RunStatus
from raylane.core.runs.service import run_service
from raylane.errors import ServiceUnavailable
from raylane.infra import compute
from raylane.infra.db.session import Database, session_scope
from raylane.infra.db.urls import app_url
from raylane.jobs import _base as job
from tests.factories import Api, Tenant

TERMINAL = {"succeeded", "failed", "dead_lettered", "cancelled"}


@dataclass
class FakeJobs:
    """The Ray Job API as the reconciler uses it, recording every call.

    A job is RUNNING from its submission until it is stopped or the test plays it to its end.
    Only this test's runs are accepted; runs left queued by other tests in this database meet
    an unreachable Ray, which keeps them queued without spending an attempt.
    """

    ours: set[uuid.UUID]
    loop: asyncio.AbstractEventLoop
    # Called (on the event loop) after Ray has the job and before the reconciler records it.
    on_submit: Callable[[uuid.UUID, int], Awaitable[None]] | None = None
    state: dict[str, str] = field(default_factory=dict)
    run_of: dict[str, uuid.UUID] = field(default_factory=dict)
    submissions: list[tuple[uuid.UUID, int]] = field(default_factory=list)
    stopped: set[str] = field(default_factory=set)
    polled: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def submit_job(self, *, kind: str, run_id: uuid.UUID, attempt: int, **_: Any) -> str:
        if run_id not in self.ours:
            raise ServiceUnavailable("Ray Job API unreachable (not this test's run)")
        job_id = f"raylane-{kind}-{run_id}-{attempt}"
        with self.lock:
            self.submissions.append((run_id, attempt))
            self.state.setdefault(job_id, "RUNNING")  # the same id again: "already exists"
            self.run_of[job_id] = run_id
        if self.on_submit is not None:
            hook = asyncio.run_coroutine_threadsafe(self.on_submit(run_id, attempt), self.loop)
            hook.result(timeout=60)
        return job_id

    def stop_job(self, submission_id: str, settings: object = None) -> None:
        with self.lock:
            self.stopped.add(submission_id)
            if self.state.get(submission_id) == "RUNNING":
                self.state[submission_id] = "STOPPED"

    def job_state(self, submission_id: str, settings: object = None) -> compute.JobState:
        with self.lock:
            self.polled.append(submission_id)
            return compute.JobState(self.state.get(submission_id, "MISSING"))

    def end(self, submission_id: str, status: str) -> None:
        """The job's process exits (unless a stop got there first)."""
        with self.lock:
            if self.state[submission_id] == "RUNNING":
                self.state[submission_id] = status

    def running(self) -> list[str]:
        with self.lock:
            return [j for j, s in self.state.items() if s == "RUNNING"]


@pytest.fixture
async def fake_jobs(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeJobs]:
    fake = FakeJobs(ours=set(), loop=asyncio.get_running_loop())
    monkeypatch.setattr(compute, "submit_job", fake.submit_job)
    monkeypatch.setattr(compute, "stop_job", fake.stop_job)
    monkeypatch.setattr(compute, "job_state", fake.job_state)
    yield fake


@pytest.fixture
def history(owner_conn: psycopg.Connection[Any]) -> Iterator[Callable[[], list[tuple[Any, ...]]]]:
    """Every status change of every run while the test runs, in commit order of the writes."""
    owner_conn.execute(
        """
        CREATE TABLE test_run_status_history (
            seq bigserial PRIMARY KEY, run_id uuid, old text, new text);
        CREATE FUNCTION test_run_status_history() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER AS $$ BEGIN
            IF NEW.status IS DISTINCT FROM OLD.status THEN
                INSERT INTO test_run_status_history (run_id, old, new)
                VALUES (NEW.id, OLD.status, NEW.status);
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER test_run_status_history AFTER UPDATE ON runs
            FOR EACH ROW EXECUTE FUNCTION test_run_status_history();
        """
    )
    try:
        yield lambda: owner_conn.execute(
            "SELECT run_id, old, new FROM test_run_status_history ORDER BY seq"
        ).fetchall()
    finally:
        owner_conn.execute(
            "DROP TRIGGER test_run_status_history ON runs;"
            "DROP FUNCTION test_run_status_history();"
            "DROP TABLE test_run_status_history;"
        )


@pytest.fixture
async def api_db(services: Settings) -> AsyncIterator[Database]:
    """The API process's own engine: its cancels do not share the workers' small pool."""
    db = Database(app_url(services), pool_size=4)
    yield db
    await db.dispose()


def run_settings(settings: Settings, **runs: Any) -> Settings:
    return settings.model_copy(update={"runs": RunSettings(**runs)})


def actor_of(tenant: Tenant) -> Actor:
    return Actor(
        organization_id=uuid.UUID(tenant.organization_id),
        user_id=uuid.UUID(tenant.owner_id),
        role=Role.OWNER,
        permissions=frozenset(),
    )


async def queue_runs(tenant: Tenant, n: int, **fields: Any) -> list[uuid.UUID]:
    org = uuid.UUID(tenant.organization_id)
    async with session_scope(organization_id=org) as session:
        runs = [
            Run(
                organization_id=org,
                kind=RunKind.INGEST,
                target_id=uuid.uuid4(),
                status=fields.get("status", RunStatus.QUEUED),
                max_attempts=3,
                params={},
                progress={},
                result={},
                **{k: v for k, v in fields.items() if k != "status"},
            )
            for _ in range(n)
        ]
        session.add_all(runs)
        await session.flush()
        return [r.id for r in runs]


def statuses(owner_conn: psycopg.Connection[Any], ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = owner_conn.execute("SELECT id, status FROM runs WHERE id = ANY(%s)", (ids,))
    return dict(rows.fetchall())


@pytest.fixture
async def retire(owner_conn: psycopg.Connection[Any]) -> AsyncIterator[list[Tenant]]:
    """Tenants whose runs are ended after the test, so no later reconciler finds them."""
    tenants: list[Tenant] = []
    yield tenants
    owner_conn.execute(
        "UPDATE runs SET status = 'cancelled', finished_at = now() "
        "WHERE organization_id = ANY(%s) AND status IN ('queued', 'running', 'cancelling')",
        ([uuid.UUID(t.organization_id) for t in tenants],),
    )


async def poll(condition: Callable[[], bool], *, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.005)


class TestCancelAndCloseRaces:
    async def test_two_reconcilers_cancels_and_job_closes_keep_the_state_machine(
        self,
        api: Api,
        platform_admin: Tenant,
        services: Settings,
        owner_conn: psycopg.Connection[Any],
        fake_jobs: FakeJobs,
        history: Callable[[], list[tuple[Any, ...]]],
        retire: list[Tenant],
        api_db: Database,
    ) -> None:
        rng = random.Random(7)
        settings = run_settings(services, backoff_s=0, max_attempts=3, max_running_per_org=6)
        tenants = [await api.new_tenant(platform_admin) for _ in range(3)]
        retire.extend(tenants)
        org_of: dict[uuid.UUID, Tenant] = {}
        for tenant in tenants:
            for run_id in await queue_runs(tenant, 12):
                org_of[run_id] = tenant
        ids = list(org_of)
        fake_jobs.ours.update(ids)
        # A cancel queued behind the reconciler's submission, while Ray already has the job.
        cancel_at_submission = set(ids[0::3])
        # A cancel that the reconciler completes (job stopped) just before the job's own close.
        cancel_at_close = set(ids[1::3])
        raced: list[uuid.UUID] = []
        left_running: list[str] = []
        cancels: list[asyncio.Task[None]] = []

        async def cancel(run_id: uuid.UUID, pid: asyncio.Future[int] | None = None) -> None:
            tenant = org_of[run_id]
            async with api_db.session(organization_id=uuid.UUID(tenant.organization_id)) as s:
                if pid is not None:
                    pid.set_result((await s.execute(text("SELECT pg_backend_pid()"))).scalar_one())
                await run_service.cancel(s, actor=actor_of(tenant), run_id=run_id)

        def waiting_on_a_lock(pid: int) -> bool:
            row = owner_conn.execute(
                "SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", (pid,)
            ).fetchone()
            return bool(row and row[0])

        async def cancel_behind_submission(run_id: uuid.UUID, attempt: int) -> None:
            if run_id not in cancel_at_submission or attempt != 1:
                return
            pid: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            task = asyncio.create_task(cancel(run_id, pid))
            cancels.append(task)
            backend = await pid
            await poll(lambda: task.done() or waiting_on_a_lock(backend))
            if not task.done():
                raced.append(run_id)  # the cancel waits on the row the submission holds

        fake_jobs.on_submit = cancel_behind_submission

        async def play(job_id: str) -> None:
            """What the job's process does: open the run, work, close it."""
            run_id = fake_jobs.run_of[job_id]
            if statuses(owner_conn, [run_id])[run_id] == "cancelled" and (
                job_id not in fake_jobs.stopped
            ):
                left_running.append(job_id)  # a cancelled run whose Ray job nobody stopped
            try:
                ctx = await job._open(run_id)
            except SystemExit:  # the run is not running: the job exits non-zero
                fake_jobs.end(job_id, "FAILED")
                return
            if run_id in cancel_at_close:
                await cancel(run_id)
                await poll(lambda: statuses(owner_conn, [run_id])[run_id] in TERMINAL)
            closed = await job._close(ctx, {"documents": 1})
            fake_jobs.end(job_id, "FAILED" if closed is False else "SUCCEEDED")

        done = asyncio.Event()

        async def reconciler() -> None:
            cursor = reconcile.FollowCursor()
            while not done.is_set():
                await reconcile.reconcile_once(settings, cursor=cursor)
                await asyncio.sleep(0.01)  # pacing between passes, not synchronisation

        async def jobs() -> None:
            while not done.is_set():
                running = fake_jobs.running()
                now = statuses(owner_conn, [fake_jobs.run_of[j] for j in running])
                # A job's process starts after the reconciler has recorded its run as running.
                ready = [j for j in running if now[fake_jobs.run_of[j]] != "queued"]
                if not ready:
                    await asyncio.sleep(0.005)  # a poll of the fake's jobs
                    continue
                await play(rng.choice(ready))

        async def canceller() -> None:
            for run_id in rng.sample([i for i in ids if i not in cancel_at_submission], 8):
                await asyncio.sleep(rng.uniform(0, 0.3))
                await cancel(run_id)

        workers = [asyncio.create_task(w()) for w in (reconciler, reconciler, jobs, canceller)]
        try:
            await poll(
                lambda: (
                    any(w.done() for w in workers[:3])  # a loop that failed: raised below
                    or (
                        set(statuses(owner_conn, ids).values()) <= TERMINAL
                        and not fake_jobs.running()
                    )
                ),
                timeout=120,
            )
        finally:
            done.set()
            await asyncio.gather(*workers, *cancels)

        final = statuses(owner_conn, ids)
        # The race was run: cancels waited on rows whose submissions were in flight.
        assert len(raced) >= len(cancel_at_submission) // 2
        ours = set(ids)
        broken = {
            # No run ends cancelled while its job was submitted and never stopped.
            "cancelled, its job never stopped": left_running
            + [
                j
                for j, r in fake_jobs.run_of.items()
                if final[r] == "cancelled" and fake_jobs.state[j] == "RUNNING"
            ],
            # No cancelled run is later turned into succeeded or running (nor any terminal run).
            "left a terminal status": [
                (r, old, new) for r, old, new in history() if r in ours and old in TERMINAL
            ],
            # Each queued run is submitted at most once per attempt.
            "submitted twice": [k for k, n in Counter(fake_jobs.submissions).items() if n > 1],
            "cancel asked, not cancelled": [
                (r, final[r])
                for r in cancel_at_submission | cancel_at_close
                if final[r] != "cancelled"
            ],
        }
        assert {what: cases for what, cases in broken.items() if cases} == {}


class TestFairness:
    async def test_a_tenant_with_a_backlog_does_not_starve_another(
        self,
        api: Api,
        platform_admin: Tenant,
        services: Settings,
        owner_conn: psycopg.Connection[Any],
        fake_jobs: FakeJobs,
        retire: list[Tenant],
    ) -> None:
        settings = run_settings(services, max_running_per_org=8)
        busy, quiet = await api.new_tenant(platform_admin), await api.new_tenant(platform_admin)
        retire.extend([busy, quiet])
        backlog = await queue_runs(busy, 120)  # older than the other tenant's run
        [single] = await queue_runs(quiet, 1)
        fake_jobs.ours.update([*backlog, single])

        for n in range(4):  # two reconcilers at once, pass after pass; the jobs keep running
            await asyncio.gather(
                reconcile.reconcile_once(settings), reconcile.reconcile_once(settings)
            )
            now = statuses(owner_conn, [*backlog, single])
            if n == 0:
                assert now[single] == "running"  # picked in the first pass
            running = [r for r in backlog if now[r] == "running"]
            assert len(running) == 8  # the organization's limit, never more
            assert {now[r] for r in backlog} == {"running", "queued"}
        waiting = [r for r in backlog if now[r] == "queued"]
        rows = owner_conn.execute(
            "SELECT count(*) FROM runs WHERE id = ANY(%s) AND attempts = 0 AND error IS NULL",
            (waiting,),
        ).fetchone()
        assert rows is not None and rows[0] == 112  # waiting, not failed, nothing spent
        assert len(fake_jobs.submissions) == 9

    async def test_long_running_runs_do_not_crowd_out_submissions(
        self,
        api: Api,
        platform_admin: Tenant,
        services: Settings,
        owner_conn: psycopg.Connection[Any],
        fake_jobs: FakeJobs,
        retire: list[Tenant],
    ) -> None:
        settings = run_settings(services, max_running_per_org=8)
        busy, quiet = await api.new_tenant(platform_admin), await api.new_tenant(platform_admin)
        retire.extend([busy, quiet])
        # 100 runs that take hours (an operator raised the limit, then lowered it again).
        long = await queue_runs(busy, 100, status=RunStatus.RUNNING, attempts=1)
        owner_conn.execute(
            "UPDATE runs SET ray_job_id = 'raylane-ingest-' || id || '-1' WHERE id = ANY(%s)",
            (long,),
        )
        for run_id in long:
            fake_jobs.state[f"raylane-ingest-{run_id}-1"] = "RUNNING"
        backlog = await queue_runs(busy, 20)
        [single] = await queue_runs(quiet, 1)
        fake_jobs.ours.update([*long, *backlog, single])

        cursor = reconcile.FollowCursor()
        await reconcile.reconcile_once(settings, limit=60, cursor=cursor)
        now = statuses(owner_conn, [*long, *backlog, single])
        assert now[single] == "running"  # picked in the first pass
        assert {now[r] for r in backlog} == {"queued"}  # over the limit: waits, not failed
        # Running runs are followed on their own list, page after page.
        await reconcile.reconcile_once(settings, limit=60, cursor=cursor)
        followed = {j.rsplit("-", 1)[0].removeprefix("raylane-ingest-") for j in fake_jobs.polled}
        assert {str(r) for r in long} <= followed
