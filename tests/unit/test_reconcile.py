"""The run state machine, rank fusion and job entrypoints, without Ray or a database.

``compute`` is the only module that talks to Ray; here it is replaced by a scripted fake so
each transition of ``reconcile`` can be driven and checked one step at a time.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from raylane.config import RunSettings, Settings
from raylane.core.collections.search import RRF_K, rrf
from raylane.core.runs import reconcile
from raylane.core.runs.models import CANCEL_TO, EDGES, TERMINAL, Run, RunKind, RunStatus
from raylane.errors import ServiceUnavailable
from raylane.infra import compute

BACKOFF_S = 2.0


@pytest.fixture
def settings() -> Settings:
    return Settings(env="development", runs=RunSettings(backoff_s=BACKOFF_S, max_attempts=3))


def make_run(**fields: object) -> Run:
    defaults: dict[str, object] = {
        "id": uuid.uuid4(),
        "organization_id": uuid.uuid4(),
        "kind": RunKind.INGEST,
        "target_id": uuid.uuid4(),
        "status": RunStatus.QUEUED,
        "attempts": 0,
        "max_attempts": 3,
        "ray_job_id": None,
        "error": None,
        "next_attempt_at": None,
        "started_at": None,
        "finished_at": None,
    }
    return Run(**(defaults | fields))


@dataclass
class FakeRay:
    """Scripted stand-in for the Job API: records calls, answers from ``states``."""

    states: dict[str, compute.JobState] = field(default_factory=dict)
    unreachable: bool = False
    submitted: list[dict[str, object]] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    polled: list[str] = field(default_factory=list)

    def submit_job(self, **kw: object) -> str:
        if self.unreachable:
            raise ServiceUnavailable("Ray Job API unreachable: connection refused")
        self.submitted.append(kw)
        return f"raylane-{kw['kind']}-{kw['run_id']}-{kw['attempt']}"

    def job_state(self, submission_id: str, settings: object = None) -> compute.JobState:
        self.polled.append(submission_id)
        return self.states[submission_id]

    def stop_job(self, submission_id: str, settings: object = None) -> None:
        self.stopped.append(submission_id)


@dataclass
class FakeRepo:
    """Stands in for RunRepository's writes: applies a transition as its conditional UPDATE does
    (only an edge of the state machine, from the status the run was read with) and records it.
    The race between writers is the database's: tests/integration/test_run_races.py covers it."""

    slots: bool = True  # what hold_submission_slot answers
    moves: list[tuple[RunStatus, RunStatus]] = field(default_factory=list)

    async def transition(self, run: Run, *, to: RunStatus, **values: object) -> bool:
        source = RunStatus(run.status)
        if to not in EDGES[source]:
            raise ValueError(f"{source} -> {to} is not a run transition")
        run.status = to
        for name, value in values.items():
            setattr(run, name, value)
        self.moves.append((source, to))
        return True

    async def hold_submission_slot(self, organization_id: uuid.UUID, max_running: int) -> bool:
        return self.slots


@pytest.fixture
def repo() -> FakeRepo:
    return FakeRepo()


@pytest.fixture
def ray(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRay]:
    fake = FakeRay()
    monkeypatch.setattr(compute, "submit_job", fake.submit_job)
    monkeypatch.setattr(compute, "job_state", fake.job_state)
    monkeypatch.setattr(compute, "stop_job", fake.stop_job)
    yield fake


def snapshot(run: Run) -> tuple[object, ...]:
    return (
        run.status,
        run.attempts,
        run.ray_job_id,
        run.error,
        run.next_attempt_at,
        run.started_at,
        run.finished_at,
    )


class TestSubmit:
    async def test_queued_run_is_submitted_and_running(
        self, repo: FakeRepo, ray: FakeRay, settings: Settings
    ) -> None:
        run = make_run()
        before = datetime.now(UTC)
        await reconcile._step(run, settings, repo)
        assert run.status == RunStatus.RUNNING
        assert run.attempts == 1
        assert run.ray_job_id == f"raylane-ingest-{run.id}-1"
        assert run.started_at is not None and run.started_at >= before
        assert run.error is None and run.finished_at is None
        [call] = ray.submitted
        assert call["kind"] == "ingest" and call["run_id"] == run.id
        assert call["attempt"] == 1 and call["organization_id"] == run.organization_id
        assert call["settings"] is settings

    async def test_resubmission_keeps_the_first_start_and_clears_the_old_error(
        self, repo: FakeRepo, ray: FakeRay, settings: Settings
    ) -> None:
        started = datetime(2024, 1, 1, tzinfo=UTC)
        run = make_run(attempts=1, started_at=started, error="attempt 1: boom")
        await reconcile._submit(run, settings, repo)
        assert run.attempts == 2 and run.ray_job_id == f"raylane-ingest-{run.id}-2"
        assert run.started_at == started and run.error is None

    async def test_unreachable_ray_keeps_it_queued_without_spending_an_attempt(
        self, repo: FakeRepo, ray: FakeRay, settings: Settings
    ) -> None:
        ray.unreachable = True
        run = make_run()
        before = datetime.now(UTC)
        await reconcile._step(run, settings, repo)
        after = datetime.now(UTC)
        assert run.status == RunStatus.QUEUED
        assert run.attempts == 0 and run.ray_job_id is None and run.started_at is None
        assert run.next_attempt_at is not None
        delay = timedelta(seconds=BACKOFF_S)
        assert before + delay <= run.next_attempt_at <= after + delay
        assert run.error is not None and "unreachable" in run.error

    async def test_a_run_at_its_organizations_limit_waits_queued(
        self, repo: FakeRepo, ray: FakeRay, settings: Settings
    ) -> None:
        repo.slots = False
        run = make_run()
        before = snapshot(run)
        await reconcile._step(run, settings, repo)
        assert snapshot(run) == before  # not failed, no attempt spent, no backoff
        assert ray.submitted == [] and repo.moves == []

    async def test_a_run_requeued_with_a_backoff_is_not_submitted_early(
        self, repo: FakeRepo, ray: FakeRay, settings: Settings
    ) -> None:
        # Listed by an earlier pass's snapshot, then failed and requeued before this lock.
        run = make_run(attempts=1, next_attempt_at=datetime.now(UTC) + timedelta(minutes=1))
        await reconcile._step(run, settings, repo)
        assert run.status == RunStatus.QUEUED and run.attempts == 1
        assert ray.submitted == [] and repo.moves == []


class TestFollow:
    @pytest.mark.parametrize("state", ["PENDING", "RUNNING"])
    async def test_pending_or_running_job_leaves_the_run_alone(
        self, repo: FakeRepo, ray: FakeRay, settings: Settings, state: str
    ) -> None:
        run = make_run(status=RunStatus.RUNNING, attempts=1, ray_job_id="job-1")
        ray.states["job-1"] = compute.JobState(state)
        before = snapshot(run)
        await reconcile._step(run, settings, repo)
        assert snapshot(run) == before
        assert ray.polled == ["job-1"] and ray.stopped == [] and ray.submitted == []

    async def test_succeeded_job_finishes_the_run(
        self, repo: FakeRepo, ray: FakeRay, settings: Settings
    ) -> None:
        run = make_run(status=RunStatus.RUNNING, attempts=1, ray_job_id="job-1")
        ray.states["job-1"] = compute.JobState("SUCCEEDED")
        before = datetime.now(UTC)
        await reconcile._step(run, settings, repo)
        assert run.status == RunStatus.SUCCEEDED
        assert run.finished_at is not None and run.finished_at >= before
        assert run.attempts == 1 and run.error is None

    async def test_failed_job_is_requeued_with_backoff(
        self, repo: FakeRepo, ray: FakeRay, settings: Settings
    ) -> None:
        run = make_run(status=RunStatus.RUNNING, attempts=1, ray_job_id="job-1")
        ray.states["job-1"] = compute.JobState("FAILED", "ValueError: boom")
        before = datetime.now(UTC)
        await reconcile._step(run, settings, repo)
        after = datetime.now(UTC)
        assert run.status == RunStatus.QUEUED and run.attempts == 1
        assert run.error == "attempt 1: ValueError: boom"
        assert run.finished_at is None
        delay = timedelta(seconds=BACKOFF_S)
        assert run.next_attempt_at is not None
        assert before + delay <= run.next_attempt_at <= after + delay

    async def test_missing_job_counts_as_a_failed_attempt(
        self, repo: FakeRepo, ray: FakeRay, settings: Settings
    ) -> None:
        # The cluster restarted: the Job API no longer knows the submission.
        run = make_run(status=RunStatus.RUNNING, attempts=2, ray_job_id="job-2")
        ray.states["job-2"] = compute.JobState("MISSING", "Job job-2 does not exist")
        await reconcile._step(run, settings, repo)
        assert run.status == RunStatus.QUEUED and run.attempts == 2
        assert run.error == "attempt 2: Job job-2 does not exist"
        assert run.next_attempt_at is not None

    async def test_missing_job_on_the_last_attempt_dead_letters(
        self, repo: FakeRepo, ray: FakeRay, settings: Settings
    ) -> None:
        run = make_run(status=RunStatus.RUNNING, attempts=3, ray_job_id="job-3")
        ray.states["job-3"] = compute.JobState("MISSING")
        await reconcile._step(run, settings, repo)
        assert run.status == RunStatus.DEAD_LETTERED and run.finished_at is not None
        assert run.error == "attempt 3: MISSING"  # no message: the state names the cause


class TestRetries:
    async def test_backoff_doubles_then_the_run_is_dead_lettered(
        self, repo: FakeRepo, ray: FakeRay, settings: Settings
    ) -> None:
        run = make_run()
        delays: list[float] = []
        for attempt in (1, 2, 3):
            await reconcile._step(run, settings, repo)  # queued -> running
            assert run.status == RunStatus.RUNNING and run.attempts == attempt
            ray.states[str(run.ray_job_id)] = compute.JobState("FAILED", f"crash {attempt}")
            before = datetime.now(UTC)
            await reconcile._step(run, settings, repo)  # running -> queued, or dead-lettered
            if run.status == RunStatus.QUEUED:
                assert run.next_attempt_at is not None
                delays.append((run.next_attempt_at - before).total_seconds())
                run.next_attempt_at = before  # the backoff has passed: the run is due again
        assert [c["attempt"] for c in ray.submitted] == [1, 2, 3]
        assert len({c["run_id"] for c in ray.submitted}) == 1
        assert delays == [
            pytest.approx(BACKOFF_S, abs=0.5),
            pytest.approx(2 * BACKOFF_S, abs=0.5),
        ]
        assert run.status == RunStatus.DEAD_LETTERED
        assert run.finished_at is not None
        assert run.error == "attempt 3: crash 3"
        # A dead-lettered run is terminal: another step does nothing.
        before_step = snapshot(run)
        await reconcile._step(run, settings, repo)
        assert snapshot(run) == before_step and len(ray.submitted) == 3

    @pytest.mark.parametrize(("attempts", "factor"), [(1, 1), (2, 2), (3, 4), (4, 8)])
    async def test_delay_is_exponential_in_the_attempt(
        self, repo: FakeRepo, settings: Settings, attempts: int, factor: int
    ) -> None:
        run = make_run(status=RunStatus.RUNNING, attempts=attempts, max_attempts=10)
        before = datetime.now(UTC)
        await reconcile._retry_or_dead_letter(run, settings, repo, "boom")
        after = datetime.now(UTC)
        delay = timedelta(seconds=BACKOFF_S * factor)
        assert run.status == RunStatus.QUEUED
        assert run.next_attempt_at is not None
        assert before + delay <= run.next_attempt_at <= after + delay

    async def test_long_errors_are_truncated(self, repo: FakeRepo, settings: Settings) -> None:
        run = make_run(status=RunStatus.RUNNING, attempts=1)
        await reconcile._retry_or_dead_letter(run, settings, repo, "x" * 10_000)
        assert run.error is not None and len(run.error) == 4000
        assert run.error.startswith("attempt 1: x")

    async def test_max_attempts_of_one_dead_letters_at_once(
        self, repo: FakeRepo, settings: Settings
    ) -> None:
        run = make_run(status=RunStatus.RUNNING, attempts=1, max_attempts=1)
        await reconcile._retry_or_dead_letter(run, settings, repo, "boom")
        assert run.status == RunStatus.DEAD_LETTERED and run.finished_at is not None
        assert run.error == "attempt 1: boom"


class TestCancel:
    async def test_cancelling_stops_the_job_and_ends_cancelled_once_stopped(
        self, repo: FakeRepo, ray: FakeRay, settings: Settings
    ) -> None:
        run = make_run(status=RunStatus.CANCELLING, attempts=1, ray_job_id="job-1")
        ray.states["job-1"] = compute.JobState("RUNNING")  # the stop takes a while
        await reconcile._step(run, settings, repo)
        assert ray.stopped == ["job-1"]
        assert run.status == RunStatus.CANCELLING and run.finished_at is None

        ray.states["job-1"] = compute.JobState("STOPPED")
        await reconcile._step(run, settings, repo)
        assert ray.stopped == ["job-1", "job-1"]
        assert run.status == RunStatus.CANCELLED and run.finished_at is not None
        assert run.attempts == 1 and ray.submitted == []

    async def test_cancelling_wins_over_a_job_that_failed_meanwhile(
        self, repo: FakeRepo, ray: FakeRay, settings: Settings
    ) -> None:
        run = make_run(status=RunStatus.CANCELLING, attempts=1, ray_job_id="job-1")
        ray.states["job-1"] = compute.JobState("FAILED", "killed")
        await reconcile._step(run, settings, repo)
        assert run.status == RunStatus.CANCELLED and run.next_attempt_at is None

    async def test_cancelling_without_a_job_ends_at_once(
        self, repo: FakeRepo, ray: FakeRay, settings: Settings
    ) -> None:
        run = make_run(status=RunStatus.CANCELLING)
        await reconcile._step(run, settings, repo)
        assert run.status == RunStatus.CANCELLED and run.finished_at is not None
        assert ray.stopped == [] and ray.polled == [] and ray.submitted == []

    @pytest.mark.parametrize(
        "status",
        [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.DEAD_LETTERED, RunStatus.CANCELLED],
    )
    async def test_terminal_runs_are_left_alone(
        self, repo: FakeRepo, ray: FakeRay, settings: Settings, status: RunStatus
    ) -> None:
        run = make_run(status=status, attempts=1, ray_job_id="job-1")
        before = snapshot(run)
        await reconcile._step(run, settings, repo)
        assert snapshot(run) == before
        assert ray.polled == [] and ray.stopped == [] and ray.submitted == []


class TestStateMachine:
    def test_terminal_statuses_have_no_way_out(self) -> None:
        assert set(EDGES) == set(RunStatus)
        for status in TERMINAL:
            assert EDGES[status] == frozenset()

    def test_cancelling_ends_only_cancelled_and_only_cancels_lead_there(self) -> None:
        assert EDGES[RunStatus.CANCELLING] == {RunStatus.CANCELLED}
        into_cancelling = {s for s, targets in EDGES.items() if RunStatus.CANCELLING in targets}
        assert into_cancelling == {RunStatus.RUNNING}
        # A running run (a live job) is never cancelled without the job being stopped first.
        assert RunStatus.CANCELLED not in EDGES[RunStatus.RUNNING]

    def test_a_cancel_asks_only_for_edges_of_the_machine(self) -> None:
        for source, target in CANCEL_TO.items():
            assert target in EDGES[source]


class TestRrf:
    def test_items_in_both_rankings_rise_and_scores_are_reciprocal_ranks(self) -> None:
        dense = [{"id": "a", "src": "dense"}, {"id": "b"}, {"id": "c", "src": "dense"}]
        sparse = [{"id": "c", "src": "sparse"}, {"id": "a", "src": "sparse"}, {"id": "d"}]
        fused = rrf(dense, sparse)
        k = RRF_K
        expected = {
            "a": 1 / (k + 1) + 1 / (k + 2),
            "c": 1 / (k + 3) + 1 / (k + 1),
            "b": 1 / (k + 2),
            "d": 1 / (k + 3),
        }
        assert [row["id"] for row, _ in fused] == ["a", "c", "b", "d"]
        for row, score in fused:
            assert score == pytest.approx(expected[row["id"]])
        # The row kept for an id is the first ranking's (it carries the vector distance).
        rows = {row["id"]: row for row, _ in fused}
        assert rows["a"]["src"] == "dense" and rows["c"]["src"] == "dense"

    def test_agreement_beats_a_single_top_rank(self) -> None:
        # x is first in one list only; y is second in both: fusion prefers consensus.
        fused = rrf([{"id": "x"}, {"id": "y"}], [{"id": "z"}, {"id": "y"}])
        assert fused[0][0]["id"] == "y"
        scores = [s for _, s in fused]
        assert scores == sorted(scores, reverse=True)

    def test_k_sets_the_damping(self) -> None:
        fused = rrf([{"id": 1}, {"id": 2}, {"id": 3}], k=0)
        assert [(row["id"], score) for row, score in fused] == [
            (1, pytest.approx(1.0)),
            (2, pytest.approx(1 / 2)),
            (3, pytest.approx(1 / 3)),
        ]

    def test_no_rankings_or_empty_rankings_fuse_to_nothing(self) -> None:
        assert rrf() == []
        assert rrf([], []) == []


class TestEntrypoint:
    def test_is_a_fixed_module_taking_only_the_run_id(self) -> None:
        run_id = uuid.uuid4()
        command = compute.entrypoint("ingest", run_id)
        assert shlex.split(command) == [
            sys.executable,
            "-m",
            "raylane.jobs.ingest",
            "--run-id",
            str(run_id),
        ]

    @pytest.mark.parametrize("kind", ["workflow", "", "ingest; rm -rf x", "../ingest", "INGEST "])
    def test_unknown_kinds_are_refused(self, kind: str) -> None:
        with pytest.raises(ValueError, match="no job entrypoint"):
            compute.entrypoint(kind, uuid.uuid4())

    def test_the_interpreter_path_is_quoted(self, monkeypatch: pytest.MonkeyPatch) -> None:
        odd = "venv dir/bin/py$thon;echo pwned"
        monkeypatch.setattr(sys, "executable", odd)
        run_id = uuid.uuid4()
        command = compute.entrypoint("ingest", run_id)
        assert shlex.split(command) == [odd, "-m", "raylane.jobs.ingest", "--run-id", str(run_id)]
        assert command.startswith(shlex.quote(odd) + " ")

    @pytest.mark.parametrize("kind", sorted(compute.JOB_KINDS))
    def test_every_job_kind_has_its_module(self, kind: str) -> None:
        assert importlib.util.find_spec(f"raylane.jobs.{kind}") is not None
        assert kind in {k.value for k in RunKind}


class _RefusingJobClient:
    def __init__(self, message: str) -> None:
        self.message = message

    def submit_job(self, **_: object) -> str:
        raise RuntimeError(self.message)


@pytest.mark.parametrize(
    ("message", "outcome"),
    [
        (
            "Request failed with status code 500: No available agent to submit job, "
            "please try again later..",
            "unavailable",
        ),
        ("Request failed with status code 503: Service Unavailable.", "unavailable"),
        ("Request failed with status code 500: runtime_env setup failed.", "refused"),
        ("Request failed with status code 400: bad entrypoint.", "refused"),
        ("Job with submission_id raylane-ingest-x-1 already exists.", "accepted"),
    ],
)
def test_job_api_refusals_are_told_apart(
    monkeypatch: pytest.MonkeyPatch, message: str, outcome: str
) -> None:
    """ "Not now" costs a run no attempt; "not this job" does; a lost acknowledgement is fine."""
    monkeypatch.setattr(compute, "job_client", lambda settings=None: _RefusingJobClient(message))
    submit = dict(kind="ingest", run_id=uuid.uuid4(), attempt=1, organization_id=uuid.uuid4())
    if outcome == "accepted":
        assert compute.submit_job(**submit, settings=Settings(env="development")).startswith(
            "raylane-"
        )
    elif outcome == "unavailable":
        with pytest.raises(ServiceUnavailable):
            compute.submit_job(**submit, settings=Settings(env="development"))
    else:
        with pytest.raises(RuntimeError) as raised:
            compute.submit_job(**submit, settings=Settings(env="development"))
        assert not isinstance(raised.value, ServiceUnavailable)
