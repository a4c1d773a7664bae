"""Training runs end to end on real Postgres, Redis, the file store and one local Ray: the API
queues the run, the job module trains it on Ray Train (Tune for a search), logs to its
experiment, and survives a training worker killed mid-run by resuming from its checkpoint."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
import pytest

from tests.factories import Api, Tenant

DATA = Path(__file__).parents[1] / "data" / "train_small.jsonl"
TRAINING_WORKER = "RayTrainWorker"


@pytest.fixture(scope="module")
def ray_cluster(services: Any) -> Iterator[None]:
    """The session's one local Ray: joined when already up, else started here and stopped
    with the module (Ray cannot run twice on this machine)."""
    import ray

    from raylane.infra.workloads import head_resources

    if ray.is_initialized():
        yield
        return
    ray.init(
        num_cpus=4,  # logical: the training workload asks 2 per worker, the embedder 2
        resources=head_resources(),
        include_dashboard=False,
        log_to_driver=False,
        namespace=services.ray.namespace,
    )
    yield
    ray.shutdown()


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
    return project["id"], r.json()["version"]["id"]


async def create_run(api: Api, tenant: Tenant, project_id: str, **body: Any) -> dict[str, Any]:
    r = await api.as_(tenant).post(f"/api/v1/projects/{project_id}/training-runs", json=body)
    assert r.status_code == 202, r.text
    return r.json()  # type: ignore[no-any-return]


def start(conn: psycopg.Connection, run_id: str) -> None:
    """What the reconciler does on submission: the run becomes ``running``, attempt 1."""
    conn.execute(
        "UPDATE runs SET status = 'running', attempts = 1, started_at = now() WHERE id = %s",
        (run_id,),
    )


async def run_job(run_id: str, kind: str = "train") -> dict[str, Any]:
    """The job module's handler in this process (it joins this process's Ray), then its close."""
    from raylane.jobs import _base
    from raylane.jobs.predict import predict
    from raylane.jobs.train import train

    ctx = await _base._open(uuid.UUID(run_id))
    result = await (train if kind == "train" else predict)(ctx)
    assert await _base._close(ctx, result)
    return result


class TestCreate:
    async def test_queues_a_train_run_with_its_params(self, api: Api, org_a: Tenant) -> None:
        project_id, version_id = await dataset_version(api, org_a)
        run = await create_run(
            api, org_a, project_id, dataset_version_id=version_id, hyperparameters={"epochs": 3}
        )
        assert run["kind"] == "train" and run["status"] == "queued"
        assert run["params"]["hyperparameters"]["epochs"] == 3
        assert run["params"]["experiment_id"]  # the project's "training" experiment
        listed = await api.as_(org_a).get(f"/api/v1/projects/{project_id}/training-runs")
        assert [r["id"] for r in listed.json()["items"]] == [run["id"]]

    async def test_bad_input_is_422_and_nothing_is_queued(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection
    ) -> None:
        project_id, version_id = await dataset_version(api, org_a)
        url = f"/api/v1/projects/{project_id}/training-runs"
        for body in (
            {"dataset_version_id": version_id, "hyperparameters": {"epochs": 0}},
            {"dataset_version_id": version_id, "hyperparameters": {"learning_rate": "0.1"}},
            {"dataset_version_id": version_id, "num_workers": True},
            {"dataset_version_id": version_id, "search": {"algorithm": "grid"}},
            {"dataset_version_id": version_id, "base": "gpt"},
        ):
            r = await api.as_(org_a).post(url, json=body)
            assert r.status_code == 422, (body, r.text)
        row = owner_conn.execute(
            "SELECT count(*) FROM runs WHERE project_id = %s", (project_id,)
        ).fetchone()
        assert row is not None and row[0] == 0

    async def test_another_tenants_project_dataset_and_run_are_404(
        self, api: Api, org_a: Tenant, org_b: Tenant
    ) -> None:
        project_id, version_id = await dataset_version(api, org_a)
        run = await create_run(api, org_a, project_id, dataset_version_id=version_id)
        b_project, _ = await dataset_version(api, org_b)
        theirs = api.as_(org_b)
        r = await theirs.post(
            f"/api/v1/projects/{project_id}/training-runs", json={"dataset_version_id": version_id}
        )
        assert r.status_code == 404
        r = await theirs.post(
            f"/api/v1/projects/{b_project}/training-runs", json={"dataset_version_id": version_id}
        )
        assert r.status_code == 404  # a's dataset version from b's own project
        r = await theirs.get(f"/api/v1/projects/{project_id}/training-runs/{run['id']}")
        assert r.status_code == 404


class TestTrainingJob:
    async def test_trains_well_above_the_majority_class(
        self,
        api: Api,
        org_a: Tenant,
        org_b: Tenant,
        owner_conn: psycopg.Connection,
        ray_cluster: None,
    ) -> None:
        project_id, version_id = await dataset_version(api, org_a)
        run = await create_run(
            api,
            org_a,
            project_id,
            dataset_version_id=version_id,
            hyperparameters={"epochs": 6, "learning_rate": 0.05},
        )
        start(owner_conn, run["id"])
        result = await run_job(run["id"])
        evaluation = result["evaluation"]
        assert evaluation["accuracy"] >= result["majority_baseline"] + 0.4, result
        assert evaluation["macro_f1"] >= 0.8
        matrix = evaluation["confusion_matrix"]
        assert len(matrix) == 4 and sum(map(sum, matrix)) == result["examples"]["heldout"]
        got = (
            await api.as_(org_a).get(f"/api/v1/projects/{project_id}/training-runs/{run['id']}")
        ).json()
        assert got["status"] == "succeeded"
        assert [h["epoch"] for h in got["progress"]["history"]] == [1, 2, 3, 4, 5, 6]
        assert {"loss", "val_accuracy", "val_macro_f1"} <= set(got["progress"]["history"][-1])
        # The experiment holds the per-epoch series and the model artifact.
        tracked = result["experiment_run_id"]
        r = await api.as_(org_a).get(
            f"/api/v1/experiment-runs/{tracked}/metric-history", params={"key": "val_accuracy"}
        )
        assert r.status_code == 200, r.text
        assert [p["step"] for p in r.json()[0]["points"]] == [1, 2, 3, 4, 5, 6]

        # Register the run's model, alias it, predict through HTTP, then batch-predict.
        owner = api.as_(org_a)
        name = f"topics-{uuid.uuid4().hex[:8]}"
        assert (await owner.post("/api/v1/models", json={"name": name})).status_code == 201
        r = await owner.post(
            f"/api/v1/models/{name}/versions",
            json={"experiment_run_id": tracked, "artifact_path": result["artifact_path"]},
        )
        assert r.status_code == 201, r.text
        r = await owner.put(f"/api/v1/models/{name}/aliases/production", json={"version": 1})
        assert r.status_code == 200, r.text
        r = await owner.post(
            f"/api/v1/models/{name}/predict",
            json={"inputs": ["The striker scored in the derby."], "alias": "production"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["predictions"][0]["label"] == "sports"
        r = await owner.post(
            f"/api/v1/models/{name}/batch-predictions",
            json={"dataset_version_id": version_id, "alias": "production"},
        )
        assert r.status_code == 202, r.text
        batch = r.json()
        assert batch["kind"] == "predict" and batch["project_id"] == project_id
        r = await api.as_(org_b).post(
            f"/api/v1/models/{name}/batch-predictions", json={"dataset_version_id": version_id}
        )
        assert r.status_code == 404
        start(owner_conn, batch["id"])
        predicted = await run_job(batch["id"], "predict")
        assert predicted["rows"] == 300
        assert predicted["accuracy"] >= 0.8
        assert sum(predicted["predicted_counts"].values()) == 300

    async def test_a_killed_worker_resumes_from_its_last_checkpoint(
        self,
        api: Api,
        org_a: Tenant,
        owner_conn: psycopg.Connection,
        ray_cluster: None,
    ) -> None:
        epochs, batch = 30, 8
        run, result, resumed, _, per_epoch = await kill_and_resume(
            api, org_a, owner_conn, epochs=epochs, batch=batch, learning_rate=0.02
        )
        # A restart from zero would train the first ``resumed - 1`` epochs twice.
        assert result["steps"] < (epochs + resumed - 1) * per_epoch
        progress = owner_conn.execute(
            "SELECT progress FROM runs WHERE id = %s", (run["id"],)
        ).fetchone()
        assert progress is not None
        assert progress[0]["worker_restarts"] == 1
        assert progress[0]["resumed_from_epochs"] == [resumed]


class Resumed(NamedTuple):
    run: dict[str, Any]
    result: dict[str, Any]
    resumed: int  # the epoch training resumed from
    killed_at: int  # the epoch reported when the worker was killed
    per_epoch: int  # optimizer steps per epoch


async def kill_and_resume(
    api: Api,
    tenant: Tenant,
    conn: psycopg.Connection,
    *,
    epochs: int,
    batch: int,
    base: str | None = None,
    **hyperparameters: Any,
) -> Resumed:
    """A training run whose worker is SIGKILLed after epoch 3, checked to have restarted once
    from a checkpoint and to have trained every epoch once, plus at most the one the kill cut
    short (finished, not yet checkpointed)."""
    project_id, version_id = await dataset_version(api, tenant)
    body: dict[str, Any] = {"base": base} if base else {}
    run = await create_run(
        api,
        tenant,
        project_id,
        dataset_version_id=version_id,
        hyperparameters={"epochs": epochs, "batch_size": batch, **hyperparameters},
        max_failures=2,
        **body,
    )
    start(conn, run["id"])
    job = asyncio.create_task(run_job(run["id"]))
    killed_at = await kill_a_worker_after(conn, run["id"], epoch=3, job=job)
    result = await job
    assert result["worker_restarts"] == 1
    resumed = int(result["resumed_from_epochs"][0])
    assert 1 < resumed <= killed_at + 2  # from its checkpoint, not from zero
    per_epoch = -(-result["examples"]["train"] // batch)
    assert epochs * per_epoch <= result["steps"] <= (epochs + 1) * per_epoch
    return Resumed(run, result, resumed, killed_at, per_epoch)


async def kill_a_worker_after(
    conn: psycopg.Connection, run_id: str, *, epoch: int, job: asyncio.Task[Any]
) -> int:
    """SIGKILL a training worker's process once the run reports ``epoch``; returns that epoch."""
    from ray._private.state import state  # the GCS actor table: no dashboard needed

    deadline = time.monotonic() + 600  # embedding and start-up are slow on a loaded box
    while time.monotonic() < deadline:
        assert not job.done(), "the job ended before a worker could be killed"
        row = conn.execute("SELECT progress FROM runs WHERE id = %s", (run_id,)).fetchone()
        seen = int((row[0] if row else {}).get("epoch", 0))
        if seen >= epoch:
            actors = await asyncio.to_thread(state.actor_table, None)
            pids = [
                int(a["Pid"])
                for a in actors.values()
                if a["ActorClassName"] == TRAINING_WORKER and a["State"] == "ALIVE"
            ]
            assert pids, "no live training worker"
            os.kill(pids[0], signal.SIGKILL)
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError("the run never reached the epoch")


class TestSearch:
    async def test_grid_search_records_trials_and_marks_the_best(
        self,
        api: Api,
        org_a: Tenant,
        owner_conn: psycopg.Connection,
        ray_cluster: None,
    ) -> None:
        project_id, version_id = await dataset_version(api, org_a)
        run = await create_run(
            api,
            org_a,
            project_id,
            dataset_version_id=version_id,
            hyperparameters={"epochs": 4},
            search={"algorithm": "grid", "learning_rate": [0.05, 0.0005], "scheduler": "asha"},
        )
        start(owner_conn, run["id"])
        result = await run_job(run["id"])
        trials = result["trials"]
        assert len(trials) == 2
        assert sum(t["best"] for t in trials) == 1
        best = next(t for t in trials if t["best"])
        assert best["trial_id"] == result["best_trial"]
        assert best["params"]["learning_rate"] == 0.05  # the rate that learns in 4 epochs
        children = owner_conn.execute(
            "SELECT tags, parent_id FROM experiment_runs"
            " WHERE run_id = %s AND parent_id IS NOT NULL",
            (run["id"],),
        ).fetchall()
        assert len(children) == 2
        assert {str(p) for _, p in children} == {result["experiment_run_id"]}
        assert sorted(t["best"] for t, _ in children) == ["false", "true"]
