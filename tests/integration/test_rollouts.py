"""Rollouts on real Postgres and Redis: the API starts them, the orchestrator's pass
(``orchestrate.tick``) is driven with a controlled clock, and traffic outcomes go through the
endpoints' own recorder (``stats.record``, what the router calls) into Redis.

No Ray here: a step's agent-test run stays queued, so a test finishes it the way the job does
(status and summary on the run row) to give the analysis its score.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from raylane.config import Settings
from raylane.core.endpoints import stats
from raylane.core.endpoints.service import endpoint_service
from raylane.core.rbac import Actor, Role
from raylane.core.rollouts import orchestrate
from raylane.infra import kv as kv_adapter
from raylane.infra.db.session import session_scope
from raylane.schemas.endpoints import EndpointCreate
from tests.factories import Api, Tenant

SUITE = """
threshold: 0.5
cases:
  - id: greet
    input: "echo:hello"
    assert:
      - {type: contains, value: hello}
"""


@pytest.fixture(scope="module", autouse=True)
def no_rollouts_left_for_an_orchestrator(owner_conn: psycopg.Connection) -> Iterator[None]:
    """The e2e stack starts later on this database with a real orchestrator: leave it nothing
    of these tests to advance."""
    yield
    owner_conn.execute(
        "UPDATE rollouts SET status = 'aborted', finished_at = now() "
        "WHERE status IN ('running', 'paused')"
    )


@pytest.fixture
async def kv(services: Settings) -> AsyncIterator[aioredis.Redis]:
    client = kv_adapter.async_client(kv_adapter.redis_url(services))
    yield client
    await client.aclose()


async def model_endpoint(api: Api, tenant: Tenant, versions: int = 2) -> dict[str, Any]:
    """A project, a registered model with ``versions`` versions, and a model endpoint whose
    stable version is 1 (the artifact is never loaded: traffic is recorded, not served)."""
    owner = api.as_(tenant)
    project = (await owner.post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex}"})).json()
    r = await owner.post(f"/api/v1/projects/{project['id']}/experiments", json={"name": "nb"})
    assert r.status_code == 201, r.text
    r = await owner.post(f"/api/v1/experiments/{r.json()['id']}/runs", json={"name": "by-hand"})
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    r = await owner.post(
        f"/api/v1/experiment-runs/{run_id}/artifacts",
        files={"file": ("model.safetensors", b"weights")},
        data={"path": "model/model.safetensors"},
    )
    assert r.status_code == 201, r.text
    name = f"m-{uuid.uuid4().hex[:8]}"
    assert (await owner.post("/api/v1/models", json={"name": name})).status_code == 201
    for _ in range(versions):
        r = await owner.post(
            f"/api/v1/models/{name}/versions",
            json={"experiment_run_id": run_id, "artifact_path": "model/model.safetensors"},
        )
        assert r.status_code == 201, r.text
    actor = Actor(
        organization_id=uuid.UUID(tenant.organization_id),
        user_id=uuid.UUID(tenant.owner_id),
        role=Role.OWNER,
        permissions=frozenset(),
    )
    async with session_scope(organization_id=actor.organization_id) as session:
        endpoint = await endpoint_service.create(
            session,
            actor=actor,
            project_id=uuid.UUID(project["id"]),
            data=EndpointCreate(
                name=f"ep-{uuid.uuid4().hex[:6]}", kind="model", subject=name, stable="1"
            ),
        )
        endpoint_id = str(endpoint.id)
    return {"id": endpoint_id, "project_id": project["id"], "model": name}


async def start(
    api: Api, tenant: Tenant, endpoint_id: str, policy: dict[str, Any], canary: int = 2
) -> dict[str, Any]:
    r = await api.as_(tenant).post(
        f"/api/v1/endpoints/{endpoint_id}/rollouts", json={"canary": canary, "policy": policy}
    )
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()
    return body


async def get(api: Api, tenant: Tenant, rollout_id: str) -> dict[str, Any]:
    r = await api.as_(tenant).get(f"/api/v1/rollouts/{rollout_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


SPLIT: Any = None  # the owner connection, set by the autouse fixture below


@pytest.fixture(autouse=True)
def _split_reader(owner_conn: psycopg.Connection) -> None:
    global SPLIT
    SPLIT = owner_conn


async def split(api: Api, tenant: Tenant, endpoint_id: str) -> dict[str, Any]:
    """The endpoint's split as the routers read it (its row)."""
    row = SPLIT.execute(
        "SELECT stable_label, canary_label, canary_weight FROM endpoints "
        "WHERE id = %s AND organization_id = %s",
        (endpoint_id, tenant.organization_id),
    ).fetchone()
    assert row is not None
    return {"stable_label": row[0], "canary_label": row[1], "canary_weight": row[2]}


async def traffic(
    kv: aioredis.Redis,
    endpoint_id: str,
    version: str,
    at: datetime,
    *,
    n: int,
    errors: int = 0,
    latency_ms: float = 40.0,
) -> None:
    """``n`` requests of ``version`` at ``at``, ``errors`` of them failed (as the router
    records them)."""
    for i in range(n):
        await stats.record(
            kv,
            endpoint_id=endpoint_id,
            version=version,
            ok=i >= errors,
            latency_ms=latency_ms,
            at=at.timestamp(),
        )


def started(rollout: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(rollout["step_started_at"])


def steps_of(rollout: dict[str, Any]) -> list[int]:
    """The step of every ``step`` event: a repeated or skipped step shows here."""
    return [e["step"] for e in rollout["history"] if e["event"] == "step"]


def finish_test_run(owner_conn: psycopg.Connection, run_id: str, status: str, score: float) -> None:
    """What the agent-test job writes when it ends: the status and the summary."""
    owner_conn.execute(
        "UPDATE runs SET status = %s, finished_at = now(), result = %s WHERE id = %s",
        (status, json.dumps({"score": score, "pass_rate": score}), run_id),
    )


class TestHealthyCanary:
    async def test_promoted_through_every_step(
        self, api: Api, org_a: Tenant, kv: aioredis.Redis, services: Settings, owner_conn: Any
    ) -> None:
        ep = await model_endpoint(api, org_a)
        policy = {"steps": [10, 50, 100], "interval_s": 60, "checks": {"min_requests": 10}}
        rollout = await start(api, org_a, ep["id"], policy)
        assert rollout["status"] == "running"
        assert (rollout["step"], rollout["weight"], rollout["canary_label"]) == (0, 10, "2")
        assert (await split(api, org_a, ep["id"]))["canary_weight"] == 10

        t = started(rollout)
        for step in range(3):
            await traffic(kv, ep["id"], "1", t + timedelta(seconds=10), n=40, errors=1)
            await traffic(kv, ep["id"], "2", t + timedelta(seconds=20), n=20)
            # Before the interval is up, nothing is analysed.
            await orchestrate.tick(services, now=t + timedelta(seconds=59), kv=kv)
            assert (await get(api, org_a, rollout["id"]))["step"] == step
            t = t + timedelta(seconds=60)
            await orchestrate.tick(services, now=t, kv=kv)
            current = await get(api, org_a, rollout["id"])
            if step < 2:
                assert (current["status"], current["step"]) == ("running", step + 1)
                assert (await split(api, org_a, ep["id"]))["canary_weight"] == [50, 100][step]

        assert current["status"] == "promoted"
        assert current["finished_at"] is not None
        assert steps_of(current) == [0, 1, 2]
        analyses = [e for e in current["history"] if e["event"] == "analysis"]
        assert [(e["step"], e["verdict"]) for e in analyses] == [
            (0, "pass"),
            (1, "pass"),
            (2, "pass"),
        ]
        assert analyses[0]["figures"]["canary"]["requests"] == 20
        assert analyses[0]["figures"]["stable"]["errors"] == 1
        endpoint = await split(api, org_a, ep["id"])
        assert (endpoint["stable_label"], endpoint["canary_weight"]) == ("2", 0)
        assert endpoint["canary_label"] is None
        model = (await api.as_(org_a).get(f"/api/v1/models/{ep['model']}")).json()
        assert model["aliases"].get("production") == 2
        # Every transition is audited with its figures, as the system.
        rows = owner_conn.execute(
            "SELECT action, actor_type, summary FROM audit_events "
            "WHERE target_id = %s ORDER BY seq",
            (rollout["id"],),
        ).fetchall()
        actions = [r[0] for r in rows]
        assert actions[0] == "rollout.start"
        assert actions.count("rollout.analysis") == 3 and actions.count("rollout.step") == 2
        assert actions[-1] == "rollout.promoted"
        analysis_rows = [r for r in rows if r[0] == "rollout.analysis"]
        assert analysis_rows[0][1] == "system"
        assert analysis_rows[0][2]["after"]["figures"]["canary"]["requests"] == 20


class TestFailingCanary:
    async def test_half_errors_rolled_back_within_interval_times_threshold_plus_one(
        self, api: Api, org_a: Tenant, kv: aioredis.Redis, services: Settings
    ) -> None:
        ep = await model_endpoint(api, org_a)
        interval, threshold = 30, 2
        policy = {"interval_s": interval, "max_failed_analyses": threshold}
        rollout = await start(api, org_a, ep["id"], policy)
        t0 = started(rollout)
        now = t0
        # The router's traffic every 5 s: the canary answers half its requests with errors.
        while now - t0 <= timedelta(seconds=interval * (threshold + 1) + 30):
            await traffic(kv, ep["id"], "1", now, n=9)
            await traffic(kv, ep["id"], "2", now, n=4, errors=2)
            await orchestrate.tick(services, now=now, kv=kv)
            current = await get(api, org_a, rollout["id"])
            if current["status"] != "running":
                break
            now += timedelta(seconds=5)
        assert current["status"] == "rolled_back"
        assert now - t0 <= timedelta(seconds=interval * threshold + interval)
        assert current["failed_analyses"] == threshold
        assert steps_of(current) == [0]  # never advanced
        assert "canary error rate 0.500 above 0.050" in current["reason"]
        last = current["history"][-1]
        assert last["event"] == "rolled_back"
        assert last["figures"]["canary"]["error_rate"] == 0.5
        endpoint = await split(api, org_a, ep["id"])
        assert (endpoint["canary_label"], endpoint["canary_weight"]) == (None, 0)
        assert endpoint["stable_label"] == "1"
        model = (await api.as_(org_a).get(f"/api/v1/models/{ep['model']}")).json()
        assert "production" not in model["aliases"]  # the alias untouched

    async def test_a_canary_failing_its_suite_is_rolled_back(
        self,
        api: Api,
        org_a: Tenant,
        kv: aioredis.Redis,
        services: Settings,
        owner_conn: psycopg.Connection,
    ) -> None:
        ep = await model_endpoint(api, org_a)
        r = await api.as_(org_a).post(
            f"/api/v1/projects/{ep['project_id']}/agent-suites",
            json={"name": "smoke", "content": SUITE},
        )
        assert r.status_code == 201, r.text
        policy = {
            "steps": [20, 100],
            "interval_s": 60,
            "max_failed_analyses": 1,
            "suite": {"name": "smoke", "min_score": 0.8},
        }
        rollout = await start(api, org_a, ep["id"], policy)
        first_run = rollout["test_run_id"]
        assert first_run is not None
        run = (await api.as_(org_a).get(f"/api/v1/agent-test-runs/{first_run}")).json()
        assert run["target"] == f"model:{ep['model']}:2"  # the canary, not the stable
        t = started(rollout)
        await traffic(kv, ep["id"], "1", t + timedelta(seconds=5), n=40)
        await traffic(kv, ep["id"], "2", t + timedelta(seconds=5), n=20)
        # The interval is up but the step's test run has not ended: the analysis waits.
        await orchestrate.tick(services, now=t + timedelta(seconds=60), kv=kv)
        current = await get(api, org_a, rollout["id"])
        assert (current["step"], current["failed_analyses"]) == (0, 0)
        assert not [e for e in current["history"] if e["event"] == "analysis"]
        # Step 0's suite passes: the next step starts with a test run of its own.
        finish_test_run(owner_conn, first_run, "succeeded", 0.95)
        t = t + timedelta(seconds=65)
        await orchestrate.tick(services, now=t, kv=kv)
        current = await get(api, org_a, rollout["id"])
        assert (current["status"], current["step"]) == ("running", 1)
        second_run = current["test_run_id"]
        assert second_run not in (None, first_run)
        # Step 1's suite scores under the minimum: rolled back, with the score as the reason.
        finish_test_run(owner_conn, second_run, "succeeded", 0.4)
        await traffic(kv, ep["id"], "2", t + timedelta(seconds=10), n=20)
        await orchestrate.tick(services, now=t + timedelta(seconds=60), kv=kv)
        current = await get(api, org_a, rollout["id"])
        assert current["status"] == "rolled_back"
        assert "suite score 0.400 below the minimum 0.800" in current["reason"]
        assert current["history"][-1]["figures"]["suite"]["score"] == 0.4
        endpoint = await split(api, org_a, ep["id"])
        assert (endpoint["stable_label"], endpoint["canary_weight"]) == ("1", 0)

    async def test_a_dead_lettered_test_run_is_a_failed_analysis(
        self,
        api: Api,
        org_a: Tenant,
        kv: aioredis.Redis,
        services: Settings,
        owner_conn: psycopg.Connection,
    ) -> None:
        ep = await model_endpoint(api, org_a)
        r = await api.as_(org_a).post(
            f"/api/v1/projects/{ep['project_id']}/agent-suites",
            json={"name": "smoke", "content": SUITE},
        )
        assert r.status_code == 201, r.text
        policy = {"interval_s": 60, "suite": {"name": "smoke", "min_score": 0.5}}
        rollout = await start(api, org_a, ep["id"], policy)
        owner_conn.execute(
            "UPDATE runs SET status = 'dead_lettered', finished_at = now() WHERE id = %s",
            (rollout["test_run_id"],),
        )
        t = started(rollout)
        await traffic(kv, ep["id"], "2", t + timedelta(seconds=5), n=20)
        await orchestrate.tick(services, now=t + timedelta(seconds=60), kv=kv)
        current = await get(api, org_a, rollout["id"])
        assert (current["status"], current["failed_analyses"]) == ("running", 1)
        assert "ended dead_lettered" in current["history"][-1]["reasons"][0]
        await api.as_(org_a).post(f"/api/v1/rollouts/{rollout['id']}/abort")

    async def test_no_canary_traffic_for_three_windows_fails_an_analysis(
        self, api: Api, org_a: Tenant, kv: aioredis.Redis, services: Settings
    ) -> None:
        ep = await model_endpoint(api, org_a)
        rollout = await start(api, org_a, ep["id"], {"interval_s": 60, "max_failed_analyses": 1})
        t = started(rollout)
        for window in range(1, 4):
            await orchestrate.tick(services, now=t + timedelta(seconds=60 * window), kv=kv)
            current = await get(api, org_a, rollout["id"])
            verdicts = [e["verdict"] for e in current["history"] if e["event"] == "analysis"]
            assert verdicts == ["inconclusive"] * (window - 1) + (
                ["inconclusive"] if window < 3 else ["fail"]
            )
        assert current["status"] == "rolled_back"
        assert "3 windows in a row" in current["reason"]


class Killed(BaseException):
    """The orchestrator's process dying: not an error any handler in it catches."""


class TestCopilotEndpoint:
    async def test_a_configuration_version_gated_by_its_suite_is_promoted(
        self,
        api: Api,
        org_a: Tenant,
        kv: aioredis.Redis,
        services: Settings,
        owner_conn: psycopg.Connection,
    ) -> None:
        owner = api.as_(org_a)
        pid = (await owner.post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex}"})).json()[
            "id"
        ]
        for prompt in ("Answer briefly.", "Answer briefly and cite sources."):
            r = await owner.post(
                f"/api/v1/projects/{pid}/copilot-configs",
                json={"name": "support", "spec": {"system_prompt": prompt}},
            )
            assert r.status_code == 201, r.text
        r = await owner.post(
            f"/api/v1/projects/{pid}/endpoints",
            json={"name": "help", "kind": "copilot", "subject": "support", "stable": "1"},
        )
        assert r.status_code == 201, r.text
        endpoint_id = r.json()["id"]
        r = await owner.post(
            f"/api/v1/projects/{pid}/agent-suites", json={"name": "smoke", "content": SUITE}
        )
        assert r.status_code == 201, r.text
        policy = {
            "steps": [100],
            "interval_s": 30,
            "suite": {"name": "smoke", "min_score": 0.5},
        }
        rollout = await start(api, org_a, endpoint_id, policy)
        run = (await owner.get(f"/api/v1/agent-test-runs/{rollout['test_run_id']}")).json()
        assert run["target"] == "copilot-config:support:2"  # the canary configuration
        finish_test_run(owner_conn, rollout["test_run_id"], "succeeded", 0.75)
        t = started(rollout)
        await traffic(kv, endpoint_id, "2", t + timedelta(seconds=5), n=12)
        await orchestrate.tick(services, now=t + timedelta(seconds=30), kv=kv)
        current = await get(api, org_a, rollout["id"])
        assert current["status"] == "promoted", current["history"]
        assert current["history"][-2]["figures"]["suite"]["score"] == 0.75
        endpoint = await split(api, org_a, endpoint_id)
        assert (endpoint["stable_label"], endpoint["canary_label"]) == ("2", None)


class TestResume:
    async def test_a_killed_orchestrator_leaves_no_step_repeated_or_skipped(
        self,
        api: Api,
        org_a: Tenant,
        kv: aioredis.Redis,
        services: Settings,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        ep = await model_endpoint(api, org_a)
        policy = {"steps": [5, 50, 100], "interval_s": 60}
        rollout = await start(api, org_a, ep["id"], policy)
        t = started(rollout) + timedelta(seconds=60)
        await traffic(kv, ep["id"], "1", t - timedelta(seconds=30), n=40)
        await traffic(kv, ep["id"], "2", t - timedelta(seconds=30), n=20)

        # The orchestrator dies after moving the split, before its transaction commits.
        real = endpoint_service.set_split

        async def dies(*args: Any, **kwargs: Any) -> Any:
            await real(*args, **kwargs)
            raise Killed

        monkeypatch.setattr(endpoint_service, "set_split", dies)
        with pytest.raises(Killed):
            await orchestrate.tick(services, now=t, kv=kv)
        monkeypatch.setattr(endpoint_service, "set_split", real)
        current = await get(api, org_a, rollout["id"])
        assert (current["step"], steps_of(current)) == (0, [0])  # nothing of it was kept
        assert not [e for e in current["history"] if e["event"] == "analysis"]
        assert (await split(api, org_a, ep["id"]))["canary_weight"] == 5

        # Two new orchestrators at once: the step is analysed and advanced exactly once.
        await asyncio.gather(
            orchestrate.tick(services, now=t, kv=kv), orchestrate.tick(services, now=t, kv=kv)
        )
        current = await get(api, org_a, rollout["id"])
        assert (current["step"], steps_of(current)) == (1, [0, 1])
        assert [e["step"] for e in current["history"] if e["event"] == "analysis"] == [0]
        assert (await split(api, org_a, ep["id"]))["canary_weight"] == 50
        # A pass at the same moment again does nothing: step 1's window has just begun.
        await orchestrate.tick(services, now=t, kv=kv)
        assert steps_of(await get(api, org_a, rollout["id"])) == [0, 1]

        # The rest goes on from the row.
        for _ in range(2):
            await traffic(kv, ep["id"], "1", t + timedelta(seconds=30), n=40)
            await traffic(kv, ep["id"], "2", t + timedelta(seconds=30), n=20)
            t += timedelta(seconds=60)
            await orchestrate.tick(services, now=t, kv=kv)
        current = await get(api, org_a, rollout["id"])
        assert current["status"] == "promoted"
        assert steps_of(current) == [0, 1, 2]


class TestControls:
    async def test_pause_resume_promote_abort_and_conflicts(
        self, api: Api, org_a: Tenant, kv: aioredis.Redis, services: Settings
    ) -> None:
        ep = await model_endpoint(api, org_a, versions=3)
        owner = api.as_(org_a)
        rollout = await start(api, org_a, ep["id"], {"interval_s": 60})
        rid = rollout["id"]
        # One active rollout per endpoint; the manual split belongs to it meanwhile.
        r = await owner.post(f"/api/v1/endpoints/{ep['id']}/rollouts", json={"canary": 3})
        assert r.status_code == 409, r.text
        assert (await owner.post(f"/api/v1/rollouts/{rid}/resume")).status_code == 409

        r = await owner.post(f"/api/v1/rollouts/{rid}/pause")
        assert r.status_code == 200 and r.json()["status"] == "paused"
        assert (await owner.post(f"/api/v1/rollouts/{rid}/pause")).status_code == 409
        # A paused rollout is not analysed, however long it waits.
        t = started(rollout)
        await traffic(kv, ep["id"], "2", t + timedelta(seconds=5), n=50)
        await orchestrate.tick(services, now=t + timedelta(seconds=600), kv=kv)
        assert (await get(api, org_a, rid))["history"][-1]["event"] == "paused"
        assert (await split(api, org_a, ep["id"]))["canary_weight"] == 5

        r = await owner.post(f"/api/v1/rollouts/{rid}/resume")
        assert r.status_code == 200 and r.json()["status"] == "running"
        r = await owner.post(f"/api/v1/rollouts/{rid}/promote")
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["weight"]) == ("promoted", 100)
        endpoint = await split(api, org_a, ep["id"])
        assert (endpoint["stable_label"], endpoint["canary_weight"]) == ("2", 0)
        for action in ("pause", "resume", "promote", "abort"):
            r = await owner.post(f"/api/v1/rollouts/{rid}/{action}")
            assert r.status_code == 409, (action, r.text)

        # Version 3 over the new stable 2, then aborted: weight 0, stable untouched.
        second = await start(api, org_a, ep["id"], {"interval_s": 60}, canary=3)
        r = await owner.post(f"/api/v1/rollouts/{second['id']}/abort")
        assert r.status_code == 200 and r.json()["status"] == "aborted"
        assert r.json()["weight"] == 0
        endpoint = await split(api, org_a, ep["id"])
        assert (endpoint["stable_label"], endpoint["canary_label"]) == ("2", None)
        listed = (await owner.get(f"/api/v1/endpoints/{ep['id']}/rollouts")).json()
        assert [x["id"] for x in listed] == [second["id"], rid]
        assert [e["event"] for e in listed[1]["history"]] == [
            "started",
            "step",
            "paused",
            "resumed",
            "promoted",
        ]

    @pytest.mark.parametrize(
        "body",
        [
            {"canary": 2, "policy": {"steps": [50, 50, 100]}},
            {"canary": 2, "policy": {"steps": [0, 100]}},
            {"canary": 2, "policy": {"interval_s": 0}},
            {"canary": 2, "policy": {"checks": {"max_error_rate": -1}}},
            {"canary": "2"},
            {"policy": {}},
            {"canary": 2, "extra": 1},
        ],
    )
    async def test_bad_input_is_422_and_writes_nothing(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection, body: dict[str, Any]
    ) -> None:
        ep = await model_endpoint(api, org_a)
        r = await api.as_(org_a).post(f"/api/v1/endpoints/{ep['id']}/rollouts", json=body)
        assert r.status_code == 422, r.text
        count = owner_conn.execute(
            "SELECT count(*) FROM rollouts WHERE endpoint_id = %s", (ep["id"],)
        ).fetchone()
        assert count == (0,)

    async def test_an_unknown_canary_or_suite_is_404_and_the_stable_as_canary_409(
        self, api: Api, org_a: Tenant
    ) -> None:
        ep = await model_endpoint(api, org_a)
        url = f"/api/v1/endpoints/{ep['id']}/rollouts"
        owner = api.as_(org_a)
        assert (await owner.post(url, json={"canary": 9})).status_code == 404
        r = await owner.post(
            url, json={"canary": 2, "policy": {"suite": {"name": "nope", "min_score": 0.5}}}
        )
        assert r.status_code == 404, r.text
        assert (await owner.post(url, json={"canary": 1})).status_code == 409
        # Nothing was left behind by the refused starts: a good one still goes through.
        assert (await owner.post(url, json={"canary": 2})).status_code == 202


class TestTenancy:
    async def test_another_tenants_endpoint_and_rollout_are_404(
        self, api: Api, org_a: Tenant, org_b: Tenant
    ) -> None:
        ep = await model_endpoint(api, org_a)
        rollout = await start(api, org_a, ep["id"], {"interval_s": 60})
        other = api.as_(org_b)
        r = await other.post(f"/api/v1/endpoints/{ep['id']}/rollouts", json={"canary": 2})
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        assert (await other.get(f"/api/v1/endpoints/{ep['id']}/rollouts")).status_code == 404
        assert (await other.get(f"/api/v1/rollouts/{rollout['id']}")).status_code == 404
        for action in ("pause", "resume", "promote", "abort"):
            r = await other.post(f"/api/v1/rollouts/{rollout['id']}/{action}")
            assert r.status_code == 404, (action, r.text)
        missing = uuid.uuid4()
        assert (await other.get(f"/api/v1/rollouts/{missing}")).status_code == 404
        # Untouched by all of it.
        current = await get(api, org_a, rollout["id"])
        assert current["status"] == "running"
        assert [e["event"] for e in current["history"]] == ["started", "step"]

    async def test_a_viewer_reads_but_cannot_act(self, api: Api, org_a: Tenant) -> None:
        ep = await model_endpoint(api, org_a)
        rollout = await start(api, org_a, ep["id"], {"interval_s": 60})
        viewer = api.as_(await api.member(org_a, role="viewer"))
        assert (await viewer.get(f"/api/v1/rollouts/{rollout['id']}")).status_code == 200
        assert (await viewer.post(f"/api/v1/rollouts/{rollout['id']}/abort")).status_code == 403
        r = await viewer.post(f"/api/v1/endpoints/{ep['id']}/rollouts", json={"canary": 2})
        assert r.status_code == 403
