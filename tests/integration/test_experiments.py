"""Experiment tracking over HTTP: runs with params, metric series, tags and artifacts; search by
tag and metric (validated), compare, histories, tenancy."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.factories import Api, Tenant
from tests.integration.live import LiveApi, live_api  # noqa: F401  (a fixture)

DATA = Path(__file__).parents[1] / "data" / "train_small.jsonl"


async def new_experiment(api: Api, tenant: Tenant, name: str = "baseline") -> dict[str, Any]:
    owner = api.as_(tenant)
    project = (await owner.post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex}"})).json()
    r = await owner.post(f"/api/v1/projects/{project['id']}/experiments", json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def start(api: Api, tenant: Tenant, experiment_id: str, **body: Any) -> dict[str, Any]:
    r = await api.as_(tenant).post(f"/api/v1/experiments/{experiment_id}/runs", json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def log(api: Api, tenant: Tenant, run_id: str, **batch: Any) -> Any:
    return await api.as_(tenant).post(f"/api/v1/experiment-runs/{run_id}/log", json=batch)


def curve(key: str, values: list[float]) -> list[dict[str, Any]]:
    return [{"key": key, "value": v, "step": i} for i, v in enumerate(values)]


class TestLogging:
    async def test_batch_of_metrics_params_tags_then_end(self, api: Api, org_a: Tenant) -> None:
        experiment = await new_experiment(api, org_a)
        run = await start(api, org_a, experiment["id"], name="lr-1e-3", params={"lr": "0.001"})
        r = await log(
            api,
            org_a,
            run["id"],
            metrics=curve("loss", [0.9, 0.5, 0.3]) + curve("accuracy", [0.5, 0.7, 0.85]),
            params={"epochs": "3"},
            tags={"team": "nlp"},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["params"] == {"lr": "0.001", "epochs": "3"}
        assert body["metrics"] == {"loss": 0.3, "accuracy": 0.85}
        assert body["tags"] == {"team": "nlp"}
        history = await api.as_(org_a).get(
            f"/api/v1/experiment-runs/{run['id']}/metric-history", params={"key": "loss"}
        )
        assert [p["value"] for p in history.json()[0]["points"]] == [0.9, 0.5, 0.3]
        assert [p["step"] for p in history.json()[0]["points"]] == [0, 1, 2]
        ended = await api.as_(org_a).post(
            f"/api/v1/experiment-runs/{run['id']}/end", json={"status": "finished"}
        )
        assert ended.json()["status"] == "finished" and ended.json()["ended_at"]
        # Metrics after the end are refused; tags (marking a best trial) are not.
        late = await log(api, org_a, run["id"], metrics=curve("loss", [0.1]))
        assert late.status_code == 409
        tagged = await log(api, org_a, run["id"], tags={"best": "true"})
        assert tagged.status_code == 200

    async def test_a_param_is_logged_once(self, api: Api, org_a: Tenant) -> None:
        experiment = await new_experiment(api, org_a)
        run = await start(api, org_a, experiment["id"], params={"lr": "0.1"})
        assert (await log(api, org_a, run["id"], params={"lr": "0.1"})).status_code == 200
        r = await log(api, org_a, run["id"], params={"lr": "0.2"}, metrics=curve("m", [1.0]))
        assert r.status_code == 409
        # All or nothing: the metric of the refused batch was not written.
        got = await api.as_(org_a).get(f"/api/v1/experiment-runs/{run['id']}")
        assert got.json()["metrics"] == {}

    async def test_bad_batches_are_422(self, api: Api, org_a: Tenant) -> None:
        experiment = await new_experiment(api, org_a)
        run = await start(api, org_a, experiment["id"])
        for batch in [
            {"metrics": [{"key": "bad key!", "value": 1}]},
            {"metrics": [{"key": "m", "value": "1"}]},
            {"metrics": [{"key": "m", "value": 1, "step": -1}]},
            {"params": {"p": 1}},
            {"metrics": [{"key": "m", "value": 1}] * 1001},
        ]:
            r = await log(api, org_a, run["id"], **batch)
            assert r.status_code == 422, (batch, r.text)
        nan = await api.as_(org_a).post(
            f"/api/v1/experiment-runs/{run['id']}/log",
            content=b'{"metrics": [{"key": "m", "value": NaN}]}',
            headers={"content-type": "application/json"},
        )
        assert nan.status_code == 422

    async def test_artifacts_listed_and_downloaded(self, api: Api, org_a: Tenant) -> None:
        experiment = await new_experiment(api, org_a)
        run = await start(api, org_a, experiment["id"])
        owner = api.as_(org_a)
        url = f"/api/v1/experiment-runs/{run['id']}/artifacts"
        r = await owner.post(
            url, files={"file": ("head.pt", b"weights")}, data={"path": "model/head.pt"}
        )
        assert r.status_code == 201, r.text
        assert r.json()["created"] is True
        same = await owner.post(
            url, files={"file": ("head.pt", b"weights")}, data={"path": "model/head.pt"}
        )
        assert same.json()["created"] is False
        other = await owner.post(
            url, files={"file": ("head.pt", b"other")}, data={"path": "model/head.pt"}
        )
        assert other.status_code == 409
        bad = await owner.post(url, files={"file": ("x", b"x")}, data={"path": "../escape"})
        assert bad.status_code == 422
        listed = (await owner.get(url)).json()["items"]
        assert [a["path"] for a in listed] == ["model/head.pt"]
        content = await owner.get(f"{url}/{listed[0]['id']}/content")
        assert content.status_code == 200 and content.content == b"weights"


class TestSearchAndCompare:
    async def test_filter_by_metric_and_tag(self, api: Api, org_a: Tenant) -> None:
        experiment = await new_experiment(api, org_a)
        runs = {}
        for name, acc, team in [("a", 0.95, "nlp"), ("b", 0.7, "nlp"), ("c", 0.9, "vision")]:
            run = await start(api, org_a, experiment["id"], name=name, tags={"team": team})
            await log(api, org_a, run["id"], metrics=curve("accuracy", [0.1, acc]))
            runs[name] = run["id"]
        await start(api, org_a, experiment["id"], name="no-metric")

        async def names(filter: str) -> set[str]:
            r = await api.as_(org_a).get(
                f"/api/v1/experiments/{experiment['id']}/runs", params={"filter": filter}
            )
            assert r.status_code == 200, r.text
            return {i["name"] for i in r.json()["items"]}

        assert await names("metric.accuracy > 0.8") == {"a", "c"}
        assert await names("metric.accuracy > 0.8 and tag.team = 'nlp'") == {"a"}
        assert await names("tag.team != 'nlp'") == {"c", "no-metric"}
        assert await names("metric.accuracy <= 0.7") == {"b"}
        assert await names("status = 'running'") == {"a", "b", "c", "no-metric"}

    async def test_a_bad_filter_is_422_quoting_it(self, api: Api, org_a: Tenant) -> None:
        experiment = await new_experiment(api, org_a)
        for bad in ["metric.accuracy > high", "accuracy > 0.8", "tag.team > 'a'", "metric.x"]:
            r = await api.as_(org_a).get(
                f"/api/v1/experiments/{experiment['id']}/runs", params={"filter": bad}
            )
            assert r.status_code == 422, bad
            assert "filter" in r.json()["detail"]

    async def test_compare_diffs_params_and_returns_histories(
        self, api: Api, org_a: Tenant
    ) -> None:
        experiment = await new_experiment(api, org_a)
        a = await start(api, org_a, experiment["id"], params={"lr": "0.1", "epochs": "3"})
        b = await start(api, org_a, experiment["id"], params={"lr": "0.01", "epochs": "3"})
        await log(api, org_a, a["id"], metrics=curve("loss", [1.0, 0.5]))
        await log(api, org_a, b["id"], metrics=curve("loss", [1.0, 0.4, 0.2]))
        r = await api.as_(org_a).post(
            "/api/v1/experiment-comparisons", json={"experiment_run_ids": [a["id"], b["id"]]}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["params_diff"] == {"lr": {a["id"]: "0.1", b["id"]: "0.01"}}
        assert [p["value"] for p in body["metrics"]["loss"][b["id"]]] == [1.0, 0.4, 0.2]
        assert [run["id"] for run in body["runs"]] == [a["id"], b["id"]]


class TestTenancy:
    async def test_another_organization_gets_404(
        self, api: Api, org_a: Tenant, org_b: Tenant
    ) -> None:
        experiment = await new_experiment(api, org_a)
        run = await start(api, org_a, experiment["id"])
        mine = await start(api, org_b, (await new_experiment(api, org_b))["id"])
        theirs = api.as_(org_b)
        for path in [
            f"/api/v1/experiments/{experiment['id']}",
            f"/api/v1/experiments/{experiment['id']}/runs",
            f"/api/v1/experiment-runs/{run['id']}",
            f"/api/v1/experiment-runs/{run['id']}/metric-history",
            f"/api/v1/experiment-runs/{run['id']}/artifacts",
        ]:
            assert (await theirs.get(path)).status_code == 404, path
        assert (await log(api, org_b, run["id"], metrics=curve("m", [1.0]))).status_code == 404
        r = await theirs.post(
            "/api/v1/experiment-comparisons", json={"experiment_run_ids": [mine["id"], run["id"]]}
        )
        assert r.status_code == 404
        r = await theirs.post(
            f"/api/v1/experiments/{mine['experiment_id']}/runs", json={"parent_id": run["id"]}
        )
        assert r.status_code == 404


def test_a_notebook_logs_a_manual_run_through_the_sdk(
    live_api: LiveApi,  # noqa: F811  (the fixture)
    tmp_path: Path,
) -> None:
    """The SDK against the API on a real port, as a notebook that trains by hand uses it."""
    from raylane.client import Client

    with Client(live_api.url, live_api.token) as client:
        project = client.projects.create(name=f"notebook-{uuid.uuid4().hex[:6]}")
        dataset = client.datasets.create(project.id, name="intents")
        version = client.datasets.upload(dataset.id, DATA).version
        head = tmp_path / "head.json"
        head.write_text('{"weights": [0.1, 0.2]}')
        with client.experiments.start_run(
            project=project.id,
            experiment="by-hand",
            params={"lr": 0.01, "epochs": 3},
            dataset_version_id=version.id,
        ) as run:
            for epoch in range(3):
                run.log_metrics(
                    {"loss": 1 / (epoch + 1), "accuracy": 0.5 + 0.1 * epoch}, step=epoch
                )
            run.log_param("optimizer", "adam")
            run.set_tags({"team": "nlp"})
            run.log_artifact(head, artifact_path="model/head.json")
        done = client.experiments.get_run(run.id)
        assert done.status == "finished"
        assert done.params == {"lr": "0.01", "epochs": "3", "optimizer": "adam"}
        assert done.metrics == {"loss": 1 / 3, "accuracy": 0.7}
        history = client.experiments.metric_history(run.id, key="loss")
        assert [p.step for p in history[0].points] == [0, 1, 2]

        # An exception inside the block ends the run failed, and still propagates.
        with (
            pytest.raises(RuntimeError, match="diverged"),
            client.experiments.start_run(experiment=done.experiment_id) as failing,
        ):
            failing.log_metric("loss", 9.0)
            raise RuntimeError("diverged")
        assert client.experiments.get_run(failing.id).status == "failed"

        found = client.experiments.list_runs(done.experiment_id, filter="metric.accuracy > 0.65")
        assert [r.id for r in found.items] == [run.id]
        compared = client.experiments.compare([run.id, failing.id])
        assert set(compared.metrics["loss"]) == {str(run.id), str(failing.id)}

        artifact = client.experiments.list_artifacts(run.id).items[0]
        assert client.experiments.download_artifact(run.id, artifact.id) == head.read_bytes()
        name = f"intent-{uuid.uuid4().hex[:6]}"
        client.models.create(name=name)
        registered = client.models.create_version(
            name, experiment_run_id=run.id, artifact_path="model/head.json"
        )
        assert client.models.set_alias(name, "staging", version=registered.version).version == 1
        staged = client.models.get_version(name, "staging")
        assert staged.lineage is not None and staged.lineage.dataset_version_id == version.id
        assert client.datasets.download(dataset.id, 1).count(b"\n") == 300
