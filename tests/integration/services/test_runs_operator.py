"""The operator path: a job module submitted by hand creates or adopts its run.

``ray job submit -- python -m raylane.jobs.ingest --collection ID`` runs ``main`` in the job's
driver; here its entry function ``run_job`` is called with the same arguments and the
environment Ray gives a submitted driver (the submission id in ``RAY_JOB_CONFIG_JSON_ENV_VAR``)
plus the operator's ``RAYLANE_API_KEY``. The handler is a stand-in for the ingest work (the
path under test is the run's bookkeeping, not embedding); Postgres, the API key lookup, the
run service, the audit chain and the reconciler are real, Ray's Job API a scripted fake.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest

from raylane.config import RunSettings, Settings
from raylane.core.runs import reconcile
from raylane.errors import ServiceUnavailable
from raylane.infra import compute
from raylane.jobs._base import RunContext, run_job
from tests.factories import Api, Tenant
from tests.integration.test_documents import audit_actions, new_collection

HAND_JOB = "raysubmit_by_hand_1"


def environ(token: str | None, job: str | None = HAND_JOB) -> dict[str, str]:
    env: dict[str, str] = {}
    if token is not None:
        env["RAYLANE_API_KEY"] = token
    if job is not None:
        config = {"metadata": {"job_submission_id": job, "job_name": job}}
        env["RAY_JOB_CONFIG_JSON_ENV_VAR"] = json.dumps(config)
    return env


async def ingest_stub(ctx: RunContext) -> dict[str, Any]:
    await ctx.progress(documents_total=0)
    return {"documents": 0, "target": str(ctx.target_id)}


ingest_stub.__module__ = "raylane.jobs.ingest"  # as ``main(module.ingest)`` passes it


async def failing_stub(ctx: RunContext) -> dict[str, Any]:
    raise RuntimeError("the embedding service is down")


failing_stub.__module__ = "raylane.jobs.ingest"


def row(owner_conn: psycopg.Connection[Any], run_id: uuid.UUID | str) -> dict[str, Any]:
    cur = owner_conn.execute(
        "SELECT status, kind, target_id::text, project_id::text, attempts, max_attempts, "
        "ray_job_id, created_by::text, result FROM runs WHERE id = %s",
        (str(run_id),),
    )
    values = cur.fetchone()
    assert values is not None and cur.description is not None
    return dict(zip([c.name for c in cur.description], values, strict=True))


def runs_for(owner_conn: psycopg.Connection[Any], target: str) -> list[str]:
    rows = owner_conn.execute("SELECT id::text FROM runs WHERE target_id = %s", (target,))
    return [r[0] for r in rows.fetchall()]


class TestSubmittedByHand:
    async def test_the_job_creates_its_run_as_its_first_attempt_and_records_success(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection[Any]
    ) -> None:
        col = await new_collection(api, org_a)
        code = await run_job(ingest_stub, ["--collection", col["id"]], environ=environ(org_a.token))
        assert code == 0
        [run_id] = runs_for(owner_conn, col["id"])
        run = row(owner_conn, run_id)
        assert run["status"] == "succeeded" and run["kind"] == "ingest"
        assert run["project_id"] == col["project_id"] and run["attempts"] == 1
        assert run["ray_job_id"] == HAND_JOB and run["created_by"] == org_a.owner_id
        assert run["result"] == {"documents": 0, "target": col["id"]}
        assert await audit_actions(api, org_a, run_id) == ["run.ingest.create"]
        # The API shows it like any run.
        got = (await api.as_(org_a).get(f"/api/v1/runs/{run_id}")).json()
        assert got["status"] == "succeeded" and got["ray_job_id"] == HAND_JOB

    async def test_a_failed_hand_job_is_retried_then_dead_lettered_by_the_reconciler(
        self,
        api: Api,
        org_a: Tenant,
        owner_conn: psycopg.Connection[Any],
        services: Settings,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        col = await new_collection(api, org_a)
        argv = ["--collection", col["id"], "--max-attempts", "2"]
        with pytest.raises(RuntimeError, match="embedding service"):  # the job exits non-zero
            await run_job(failing_stub, argv, environ=environ(org_a.token))
        [run_id] = runs_for(owner_conn, col["id"])
        assert row(owner_conn, run_id)["status"] == "running"
        hand_run = run_id
        submitted: list[int] = []

        def submit_job(*, kind: str, run_id: uuid.UUID, attempt: int, **_: Any) -> str:
            if str(run_id) != hand_run:
                raise ServiceUnavailable("not this test's run")
            submitted.append(attempt)
            return f"raylane-{kind}-{run_id}-{attempt}"

        monkeypatch.setattr(compute, "submit_job", submit_job)
        monkeypatch.setattr(
            compute, "job_state", lambda job, settings=None: compute.JobState("FAILED", "boom")
        )
        fast = services.model_copy(update={"runs": RunSettings(backoff_s=0)})
        for _ in range(10):
            await reconcile.reconcile_once(fast)
            if row(owner_conn, run_id)["status"] == "dead_lettered":
                break
        run = row(owner_conn, run_id)
        assert run["status"] == "dead_lettered" and run["attempts"] == 2
        assert submitted == [2]  # the hand job was attempt 1; one retry, then dead-lettered

    async def test_a_queued_run_is_adopted_with_run_id(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection[Any]
    ) -> None:
        col = await new_collection(api, org_a)
        run_id = (await api.as_(org_a).post(f"/api/v1/collections/{col['id']}/ingest")).json()["id"]
        code = await run_job(ingest_stub, ["--run-id", run_id], environ=environ(org_a.token))
        assert code == 0
        run = row(owner_conn, run_id)
        assert run["status"] == "succeeded" and run["ray_job_id"] == HAND_JOB
        assert run["attempts"] == 1
        assert await audit_actions(api, org_a, run_id) == ["run.adopt", "run.ingest.create"]

    async def test_a_running_run_of_another_job_is_not_worked_on(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection[Any]
    ) -> None:
        col = await new_collection(api, org_a)
        run_id = (await api.as_(org_a).post(f"/api/v1/collections/{col['id']}/ingest")).json()["id"]
        attempt = f"raylane-ingest-{run_id}-1"
        owner_conn.execute(
            "UPDATE runs SET status = 'running', attempts = 1, ray_job_id = %s WHERE id = %s",
            (attempt, run_id),
        )
        try:
            stale = environ(org_a.token, job="raysubmit_someone_else")
            assert await run_job(ingest_stub, ["--run-id", run_id], environ=stale) == 1
            run = row(owner_conn, run_id)
            assert run["status"] == "running" and run["ray_job_id"] == attempt
            assert run["result"] == {}
            # The reconciler's own attempt works on it, with or without a key around.
            assert (
                await run_job(ingest_stub, ["--run-id", run_id], environ=environ(None, attempt))
                == 0
            )
            assert row(owner_conn, run_id)["status"] == "succeeded"
        finally:
            owner_conn.execute(
                "UPDATE runs SET status = 'cancelled' WHERE id = %s AND status = 'running'",
                (run_id,),
            )


class TestRefusals:
    async def test_bad_command_lines_and_environments_create_nothing(
        self,
        api: Api,
        org_a: Tenant,
        owner_conn: psycopg.Connection[Any],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        col = await new_collection(api, org_a)
        argv = ["--collection", col["id"]]
        assert await run_job(ingest_stub, argv, environ=environ(None)) == 2
        assert "RAYLANE_API_KEY" in capsys.readouterr().err
        assert await run_job(ingest_stub, argv, environ=environ(org_a.token, job=None)) == 2
        assert "ray job submit" in capsys.readouterr().err
        assert await run_job(ingest_stub, [], environ=environ(org_a.token)) == 2
        assert "--collection is required" in capsys.readouterr().err
        bad = org_a.token[:-4] + "xxxx"
        assert await run_job(ingest_stub, argv, environ=environ(bad)) == 1
        assert "unauthenticated" in capsys.readouterr().err
        with pytest.raises(SystemExit):  # argparse: not a UUID
            await run_job(ingest_stub, ["--collection", "nope"], environ=environ(org_a.token))
        assert runs_for(owner_conn, col["id"]) == []

    async def test_another_tenants_collection_or_run_is_not_found(
        self,
        api: Api,
        org_a: Tenant,
        org_b: Tenant,
        owner_conn: psycopg.Connection[Any],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        col = await new_collection(api, org_a)
        argv = ["--collection", col["id"]]
        assert await run_job(ingest_stub, argv, environ=environ(org_b.token)) == 1
        assert "not_found" in capsys.readouterr().err
        queued = (await api.as_(org_a).post(f"/api/v1/collections/{col['id']}/ingest")).json()
        adopt = ["--run-id", queued["id"]]
        assert await run_job(ingest_stub, adopt, environ=environ(org_b.token)) == 1
        assert "not_found" in capsys.readouterr().err
        assert runs_for(owner_conn, col["id"]) == [queued["id"]]
        assert row(owner_conn, queued["id"])["status"] == "queued"

    async def test_a_viewer_key_may_not_start_a_run(
        self,
        api: Api,
        org_a: Tenant,
        owner_conn: psycopg.Connection[Any],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        col = await new_collection(api, org_a)
        viewer = await api.member(org_a, role="viewer")
        argv = ["--collection", col["id"]]
        assert await run_job(ingest_stub, argv, environ=environ(viewer.token)) == 1
        assert "permission_denied" in capsys.readouterr().err
        assert runs_for(owner_conn, col["id"]) == []
