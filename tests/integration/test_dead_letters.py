"""Dead letters and replays, through the API on real Postgres, with the real reconciler.

Ray is replaced by a scripted fake of ``compute``'s submit/status/stop/logs (as in
``test_run_races.py``): every job of a doomed run fails, so the reconciler spends exactly
``max_attempts`` attempts and dead-letters it; a replay starts a fresh chain that succeeds.
Runs of other tests in this database meet an unreachable Ray and stay queued, untouched.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, get_args

import psycopg
import pytest

from raylane.config import RunSettings, Settings
from raylane.core.runs import reconcile
from raylane.core.runs.models import RunStatus
from raylane.errors import ServiceUnavailable
from raylane.infra import compute
from raylane.schemas.runs import TERMINAL_STATUSES, RunStatusName
from tests.factories import Api, Tenant
from tests.integration.test_documents import audit_actions, new_collection


@dataclass
class ScriptedRay:
    """The Job API as the reconciler uses it. A job of a run in ``failing`` ends FAILED, any
    other of ours SUCCEEDED; runs not ours meet an unreachable Ray (no attempt spent)."""

    ours: set[uuid.UUID] = field(default_factory=set)
    failing: set[uuid.UUID] = field(default_factory=set)
    submissions: list[tuple[uuid.UUID, int]] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def submit_job(self, *, kind: str, run_id: uuid.UUID, attempt: int, **_: Any) -> str:
        if run_id not in self.ours:
            raise ServiceUnavailable("Ray Job API unreachable (not this test's run)")
        with self.lock:
            self.submissions.append((run_id, attempt))
        return f"raylane-{kind}-{run_id}-{attempt}"

    def job_state(self, submission_id: str, settings: object = None) -> compute.JobState:
        run_id = uuid.UUID(submission_id.split("-", 2)[2].rsplit("-", 1)[0])
        if run_id in self.failing:
            return compute.JobState("FAILED", "ValueError: the document store is gone")
        return compute.JobState("SUCCEEDED")

    def stop_job(self, submission_id: str, settings: object = None) -> None:
        pass

    def job_logs(self, submission_id: str, settings: object = None) -> str:
        return self.logs.get(submission_id, "")

    def attempts_of(self, run_id: uuid.UUID) -> list[int]:
        with self.lock:
            return [a for r, a in self.submissions if r == run_id]


@pytest.fixture
def ray(monkeypatch: pytest.MonkeyPatch) -> ScriptedRay:
    fake = ScriptedRay()
    for name in ("submit_job", "job_state", "stop_job", "job_logs"):
        monkeypatch.setattr(compute, name, getattr(fake, name))
    return fake


@pytest.fixture
def fast(services: Settings) -> Settings:
    """No backoff between attempts, so each pass can submit the next one."""
    return services.model_copy(update={"runs": RunSettings(backoff_s=0, max_attempts=3)})


async def settle(
    owner_conn: psycopg.Connection[Any], settings: Settings, run_id: str, *, passes: int = 30
) -> str:
    """Reconcile until the run is terminal (each pass moves it at most one step)."""
    for _ in range(passes):
        await reconcile.reconcile_once(settings)
        row = owner_conn.execute("SELECT status FROM runs WHERE id = %s", (run_id,)).fetchone()
        assert row is not None
        if row[0] in TERMINAL_STATUSES:
            return str(row[0])
    raise AssertionError(f"run {run_id} not terminal after {passes} passes")


async def dead_letter(
    api: Api, tenant: Tenant, ray: ScriptedRay, owner_conn: psycopg.Connection[Any], s: Settings
) -> dict[str, Any]:
    """An ingest run whose every attempt fails, reconciled to its end."""
    col = await new_collection(api, tenant)
    r = await api.as_(tenant).post(f"/api/v1/collections/{col['id']}/ingest")
    assert r.status_code == 202, r.text
    run = dict(r.json())
    ray.ours.add(uuid.UUID(run["id"]))
    ray.failing.add(uuid.UUID(run["id"]))
    assert await settle(owner_conn, s, run["id"]) == "dead_lettered"
    return run


class TestDeadLetters:
    async def test_a_run_that_always_fails_gets_max_attempts_then_is_dead_lettered(
        self,
        api: Api,
        org_a: Tenant,
        ray: ScriptedRay,
        owner_conn: psycopg.Connection[Any],
        fast: Settings,
    ) -> None:
        run = await dead_letter(api, org_a, ray, owner_conn, fast)
        assert run["max_attempts"] == 3
        assert ray.attempts_of(uuid.UUID(run["id"])) == [1, 2, 3]  # exactly, and no fourth
        got = (await api.as_(org_a).get(f"/api/v1/runs/{run['id']}")).json()
        assert got["status"] == "dead_lettered" and got["attempts"] == 3
        assert got["error"] == "attempt 3: ValueError: the document store is gone"
        assert got["finished_at"] is not None and got["replayed_by"] is None
        # More passes change nothing: a dead letter is terminal.
        await reconcile.reconcile_once(fast)
        assert ray.attempts_of(uuid.UUID(run["id"])) == [1, 2, 3]

    async def test_the_dead_letter_list_is_an_exact_validated_status_filter(
        self,
        api: Api,
        org_a: Tenant,
        org_b: Tenant,
        ray: ScriptedRay,
        owner_conn: psycopg.Connection[Any],
        fast: Settings,
    ) -> None:
        run = await dead_letter(api, org_a, ray, owner_conn, fast)
        queued = await new_collection(api, org_a)
        await api.as_(org_a).post(f"/api/v1/collections/{queued['id']}/ingest")

        async def ids(tenant: Tenant, **params: Any) -> list[str]:
            r = await api.as_(tenant).get("/api/v1/runs", params=params)
            assert r.status_code == 200, r.text
            return [item["id"] for item in r.json()["items"]]

        assert await ids(org_a, status="dead_lettered") == [run["id"]]
        assert run["id"] not in await ids(org_a, status="failed")
        assert await ids(org_b, status="dead_lettered") == []  # not another tenant's
        for bad in ("dead", "DEAD_LETTERED", "dead_lettered "):
            r = await api.as_(org_a).get("/api/v1/runs", params={"status": bad})
            assert r.status_code == 422, (bad, r.text)
            assert r.json()["error"] == "validation_error"

    def test_the_wire_statuses_are_cores(self) -> None:
        assert set(get_args(RunStatusName)) == {s.value for s in RunStatus}


class TestReplay:
    async def test_replay_starts_a_new_chain_linked_both_ways_and_audited(
        self,
        api: Api,
        org_a: Tenant,
        ray: ScriptedRay,
        owner_conn: psycopg.Connection[Any],
        fast: Settings,
    ) -> None:
        old = await dead_letter(api, org_a, ray, owner_conn, fast)
        r = await api.as_(org_a).post(f"/api/v1/runs/{old['id']}/replay")
        assert r.status_code == 202, r.text
        new = r.json()
        assert new["id"] != old["id"] and new["replay_of"] == old["id"]
        assert new["status"] == "queued" and new["attempts"] == 0 and new["error"] is None
        for name in ("kind", "target_id", "project_id", "max_attempts"):
            assert new[name] == old[name], name
        got_old = (await api.as_(org_a).get(f"/api/v1/runs/{old['id']}")).json()
        assert got_old["status"] == "dead_lettered" and got_old["replayed_by"] == new["id"]
        assert await audit_actions(api, org_a, old["id"]) == ["run.replay", "run.ingest.create"]
        assert await audit_actions(api, org_a, new["id"]) == ["run.ingest.create"]

        # The new chain has attempts of its own, and this time the job succeeds.
        ray.ours.add(uuid.UUID(new["id"]))
        assert await settle(owner_conn, fast, new["id"]) == "succeeded"
        assert ray.attempts_of(uuid.UUID(new["id"])) == [1]

        # One replay per dead letter; only a dead letter is replayed.
        again = await api.as_(org_a).post(f"/api/v1/runs/{old['id']}/replay")
        assert again.status_code == 409 and again.json()["error"] == "conflict"
        assert new["id"] in again.json()["detail"]
        live = await api.as_(org_a).post(f"/api/v1/runs/{new['id']}/replay")
        assert live.status_code == 409 and "succeeded" in live.json()["detail"]

    async def test_concurrent_replays_start_one_chain(
        self,
        api: Api,
        org_a: Tenant,
        ray: ScriptedRay,
        owner_conn: psycopg.Connection[Any],
        fast: Settings,
    ) -> None:
        old = await dead_letter(api, org_a, ray, owner_conn, fast)
        answers = await asyncio.gather(
            *(api.as_(org_a).post(f"/api/v1/runs/{old['id']}/replay") for _ in range(5))
        )
        assert sorted(a.status_code for a in answers) == [202, 409, 409, 409, 409]
        replays = owner_conn.execute(
            "SELECT count(*) FROM runs WHERE replay_of = %s", (old["id"],)
        ).fetchone()
        assert replays == (1,)

    async def test_another_tenants_run_is_404_on_get_replay_and_logs(
        self,
        api: Api,
        org_a: Tenant,
        org_b: Tenant,
        ray: ScriptedRay,
        owner_conn: psycopg.Connection[Any],
        fast: Settings,
    ) -> None:
        old = await dead_letter(api, org_a, ray, owner_conn, fast)
        for method, path in (
            ("GET", f"/api/v1/runs/{old['id']}"),
            ("POST", f"/api/v1/runs/{old['id']}/replay"),
            ("GET", f"/api/v1/runs/{old['id']}/logs"),
            ("POST", f"/api/v1/runs/{uuid.uuid4()}/replay"),
        ):
            r = await api.as_(org_b).request(method, path)
            assert r.status_code == 404 and r.json()["error"] == "not_found", (path, r.text)
        got = (await api.as_(org_a).get(f"/api/v1/runs/{old['id']}")).json()
        assert got["replayed_by"] is None  # nothing was replayed by the other tenant

    async def test_a_viewer_may_not_replay(
        self,
        api: Api,
        org_a: Tenant,
        ray: ScriptedRay,
        owner_conn: psycopg.Connection[Any],
        fast: Settings,
    ) -> None:
        old = await dead_letter(api, org_a, ray, owner_conn, fast)
        viewer = await api.member(org_a, role="viewer")
        r = await api.as_(viewer).post(f"/api/v1/runs/{old['id']}/replay")
        assert r.status_code == 403 and r.json()["error"] == "permission_denied"


class TestLogsOffset:
    async def test_offset_returns_only_new_text_and_the_status_read_first(
        self, api: Api, org_a: Tenant, ray: ScriptedRay, owner_conn: psycopg.Connection[Any]
    ) -> None:
        col = await new_collection(api, org_a)
        run = (await api.as_(org_a).post(f"/api/v1/collections/{col['id']}/ingest")).json()
        job = f"raylane-ingest-{run['id']}-1"
        owner_conn.execute(
            "UPDATE runs SET status = 'running', attempts = 1, ray_job_id = %s WHERE id = %s",
            (job, run["id"]),
        )
        ray.logs[job] = "line 1\nline 2\n"
        path = f"/api/v1/runs/{run['id']}/logs"
        first = (await api.as_(org_a).get(path)).json()
        assert first["logs"] == "line 1\nline 2\n" and first["status"] == "running"
        assert (first["offset"], first["next_offset"]) == (0, 14)
        ray.logs[job] += "line 3\n"
        later = (await api.as_(org_a).get(path, params={"offset": first["next_offset"]})).json()
        assert later["logs"] == "line 3\n" and later["next_offset"] == 21
        past = (await api.as_(org_a).get(path, params={"offset": 999})).json()
        assert past["logs"] == "" and past["next_offset"] == 21
        bad = await api.as_(org_a).get(path, params={"offset": -1})
        assert bad.status_code == 422
        owner_conn.execute(
            "UPDATE runs SET status = 'cancelled', finished_at = now() WHERE id = %s",
            (run["id"],),
        )
