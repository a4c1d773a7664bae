"""The training job's operator path: ``ray job submit -- python -m raylane.jobs.train --project
ID --config train.yaml`` creates its run (kind ``train``) as its first attempt, from a YAML file
validated by the training-run request's schema and checked by the training service as the API
checks it. ``run_job`` is called as ``main`` calls it, with the environment Ray gives a
submitted driver; the handler is a stand-in for the training (the path under test is the run's
bookkeeping), Postgres, the API key lookup, the services and the audit chain are real."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from raylane.jobs._base import RunContext, run_job
from raylane.jobs.train import TRAIN
from tests.factories import Api, Tenant
from tests.integration.services.test_runs_operator import HAND_JOB, environ, row
from tests.integration.test_documents import audit_actions

DATA = Path(__file__).resolve().parents[2] / "data" / "train_small.jsonl"


async def train_stub(ctx: RunContext) -> dict[str, Any]:
    await ctx.progress(stage="loading")
    return {"params": ctx.params}


async def dataset_version(api: Api, tenant: Tenant) -> tuple[str, str]:
    """A project and a version of ``train_small.jsonl`` in it."""
    owner = api.as_(tenant)
    project = (await owner.post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex}"})).json()
    r = await owner.post(f"/api/v1/projects/{project['id']}/datasets", json={"name": "topics"})
    assert r.status_code == 201, r.text
    r = await owner.post(
        f"/api/v1/datasets/{r.json()['id']}/upload",
        files={"file": ("train_small.jsonl", DATA.read_bytes())},
    )
    assert r.status_code == 201, r.text
    return str(project["id"]), str(r.json()["version"]["id"])


def train_runs(owner_conn: psycopg.Connection[Any], project_id: str) -> list[str]:
    rows = owner_conn.execute(
        "SELECT id::text FROM runs WHERE project_id = %s AND kind = 'train'", (project_id,)
    )
    return [r[0] for r in rows.fetchall()]


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / f"train-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(text)
    return str(path)


class TestTrainSubmittedByHand:
    async def test_the_job_creates_its_train_run_from_the_yaml(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection[Any], tmp_path: Path
    ) -> None:
        project_id, version_id = await dataset_version(api, org_a)
        yaml_file = config(
            tmp_path,
            f"dataset_version_id: {version_id}\n"
            "hyperparameters:\n  epochs: 4\n  learning_rate: 0.05\n"
            "num_workers: 2\nmax_attempts: 5\n",
        )
        argv = ["--project", project_id, "--config", yaml_file]
        code = await run_job(train_stub, argv, operator=TRAIN, environ=environ(org_a.token))
        assert code == 0
        [run_id] = train_runs(owner_conn, project_id)
        run = row(owner_conn, run_id)
        assert run["status"] == "succeeded" and run["kind"] == "train"
        assert run["ray_job_id"] == HAND_JOB and run["created_by"] == org_a.owner_id
        assert run["attempts"] == 1 and run["max_attempts"] == 5  # the YAML's
        params = run["result"]["params"]
        assert params["dataset_version_id"] == version_id and params["num_workers"] == 2
        assert params["hyperparameters"]["epochs"] == 4
        assert params["experiment_id"]  # filled in by the service, as through the API
        assert await audit_actions(api, org_a, run_id) == ["run.train.create"]
        got = await api.as_(org_a).get(f"/api/v1/projects/{project_id}/training-runs/{run_id}")
        assert got.status_code == 200 and got.json()["status"] == "succeeded"

    async def test_the_flag_overrides_the_yaml_attempts(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection[Any], tmp_path: Path
    ) -> None:
        project_id, version_id = await dataset_version(api, org_a)
        yaml_file = config(tmp_path, f"dataset_version_id: {version_id}\nmax_attempts: 5\n")
        argv = ["--project", project_id, "--config", yaml_file, "--max-attempts", "2"]
        assert await run_job(train_stub, argv, operator=TRAIN, environ=environ(org_a.token)) == 0
        [run_id] = train_runs(owner_conn, project_id)
        assert row(owner_conn, run_id)["max_attempts"] == 2


class TestTrainRefusals:
    async def test_bad_configs_are_refused_and_create_nothing(
        self,
        api: Api,
        org_a: Tenant,
        owner_conn: psycopg.Connection[Any],
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        project_id, version_id = await dataset_version(api, org_a)
        env = environ(org_a.token)

        async def go(*argv: str) -> int:
            return await run_job(train_stub, list(argv), operator=TRAIN, environ=env)

        assert await go("--project", project_id) == 2
        assert "--config are required" in capsys.readouterr().err
        assert await go("--project", project_id, "--config", str(tmp_path / "missing.yaml")) == 2
        assert "missing.yaml" in capsys.readouterr().err
        for text, says in (
            ("dataset_version_id: [unclosed\n", "not YAML"),
            ("- a list\n", "expected a mapping"),
            (f"dataset_version_id: {version_id}\nhyperparameters:\n  epochs: 0\n", "epochs"),
            (f"dataset_version_id: {version_id}\nbase: gpt\n", "base"),
            (f"dataset_version_id: {version_id}\nsurprise: 1\n", "surprise"),
        ):
            assert await go("--project", project_id, "--config", config(tmp_path, text)) == 1
            err = capsys.readouterr().err
            assert "validation_error" in err and says in err, err
        assert train_runs(owner_conn, project_id) == []

    async def test_another_tenants_project_or_dataset_is_not_found(
        self,
        api: Api,
        org_a: Tenant,
        org_b: Tenant,
        owner_conn: psycopg.Connection[Any],
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        a_project, a_version = await dataset_version(api, org_a)
        b_project, _ = await dataset_version(api, org_b)
        yaml_file = config(tmp_path, f"dataset_version_id: {a_version}\n")
        b_env = environ(org_b.token)
        for project in (a_project, b_project):  # a's project; a's dataset from b's project
            argv = ["--project", project, "--config", yaml_file]
            assert await run_job(train_stub, argv, operator=TRAIN, environ=b_env) == 1
            assert "not_found" in capsys.readouterr().err
        assert train_runs(owner_conn, a_project) == train_runs(owner_conn, b_project) == []
