"""The model registry over HTTP: versions from a tracking run's artifact with lineage, lookups
by number, alias and ``latest``, atomic alias moves (two at once: both land in order, the audit
log names each previous holder), tenancy."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import psycopg

from tests.factories import Api, Tenant
from tests.integration.live import LiveApi, live_api  # noqa: F401  (a fixture)

DATA = Path(__file__).parents[1] / "data" / "train_small.jsonl"


async def trained_run(api: Api, tenant: Tenant) -> dict[str, Any]:
    """A project with a dataset version, and a finished tracking run on it with an artifact."""
    owner = api.as_(tenant)
    project = (await owner.post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex}"})).json()
    dataset = (
        await owner.post(f"/api/v1/projects/{project['id']}/datasets", json={"name": "d"})
    ).json()
    version = (
        await owner.post(
            f"/api/v1/datasets/{dataset['id']}/upload",
            files={"file": ("train.jsonl", DATA.read_bytes())},
        )
    ).json()["version"]
    experiment = (
        await owner.post(f"/api/v1/projects/{project['id']}/experiments", json={"name": "e"})
    ).json()
    run = (
        await owner.post(
            f"/api/v1/experiments/{experiment['id']}/runs",
            json={"dataset_version_id": version["id"], "params": {"lr": "0.01"}},
        )
    ).json()
    r = await owner.post(
        f"/api/v1/experiment-runs/{run['id']}/artifacts",
        files={"file": ("head.json", b'{"w": [1, 2]}')},
        data={"path": "model/head.json"},
    )
    assert r.status_code == 201, r.text
    return {"run": run, "dataset": dataset, "dataset_version": version, "experiment": experiment}


async def new_model(api: Api, tenant: Tenant, versions: int = 1) -> tuple[str, dict[str, Any]]:
    made = await trained_run(api, tenant)
    name = f"intent-{uuid.uuid4().hex[:8]}"
    owner = api.as_(tenant)
    r = await owner.post("/api/v1/models", json={"name": name, "description": "intents"})
    assert r.status_code == 201, r.text
    for _ in range(versions):
        r = await owner.post(
            f"/api/v1/models/{name}/versions",
            json={
                "experiment_run_id": made["run"]["id"],
                "artifact_path": "model/head.json",
                "signature": {
                    "inputs": [{"name": "text", "type": "string"}],
                    "outputs": [{"name": "label", "type": "string"}],
                },
            },
        )
        assert r.status_code == 201, r.text
    return name, made


class TestVersions:
    async def test_version_records_lineage_to_the_dataset(self, api: Api, org_a: Tenant) -> None:
        name, made = await new_model(api, org_a)
        r = await api.as_(org_a).get(f"/api/v1/models/{name}/versions/1")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["version"] == 1
        assert body["artifact_path"] == "model/head.json"
        assert body["signature"]["inputs"] == [{"name": "text", "type": "string"}]
        lineage = body["lineage"]
        assert lineage["experiment_run_id"] == made["run"]["id"]
        assert lineage["experiment_id"] == made["experiment"]["id"]
        assert lineage["dataset_version_id"] == made["dataset_version"]["id"]
        assert lineage["dataset_id"] == made["dataset"]["id"]
        assert lineage["dataset_version"] == 1

    async def test_names_are_unique_per_organization(
        self, api: Api, org_a: Tenant, org_b: Tenant
    ) -> None:
        name = f"m-{uuid.uuid4().hex[:8]}"
        assert (await api.as_(org_a).post("/api/v1/models", json={"name": name})).status_code == 201
        assert (await api.as_(org_a).post("/api/v1/models", json={"name": name})).status_code == 409
        assert (await api.as_(org_b).post("/api/v1/models", json={"name": name})).status_code == 201

    async def test_unknown_artifact_is_404_and_makes_no_version(
        self, api: Api, org_a: Tenant
    ) -> None:
        name, made = await new_model(api, org_a)
        r = await api.as_(org_a).post(
            f"/api/v1/models/{name}/versions",
            json={"experiment_run_id": made["run"]["id"], "artifact_path": "model/missing"},
        )
        assert r.status_code == 404
        assert (await api.as_(org_a).get(f"/api/v1/models/{name}")).json()["latest_version"] == 1


class TestAliases:
    async def test_set_move_read_and_delete(self, api: Api, org_a: Tenant) -> None:
        name, _ = await new_model(api, org_a, versions=2)
        owner = api.as_(org_a)
        r = await owner.put(f"/api/v1/models/{name}/aliases/production", json={"version": 1})
        assert r.json() == {"alias": "production", "version": 1, "previous_version": None}
        r = await owner.put(f"/api/v1/models/{name}/aliases/production", json={"version": 2})
        assert r.json()["previous_version"] == 1
        by_alias = await owner.get(f"/api/v1/models/{name}/aliases/production")
        assert by_alias.json()["version"] == 2 and by_alias.json()["aliases"] == ["production"]
        same = await owner.get(f"/api/v1/models/{name}/versions/production")
        assert same.json()["id"] == by_alias.json()["id"]
        latest = await owner.get(f"/api/v1/models/{name}/versions/latest")
        assert latest.json()["version"] == 2
        model = (await owner.get(f"/api/v1/models/{name}")).json()
        assert model["aliases"] == {"production": 2}
        for bad in ["Production", "123", "latest"]:
            r = await owner.put(f"/api/v1/models/{name}/aliases/{bad}", json={"version": 1})
            assert r.status_code == 422, bad
        assert (
            await owner.put(f"/api/v1/models/{name}/aliases/staging", json={"version": 7})
        ).status_code == 404
        assert (await owner.delete(f"/api/v1/models/{name}/aliases/production")).status_code == 204
        gone = await owner.get(f"/api/v1/models/{name}/aliases/production")
        assert gone.status_code == 404

    async def test_two_concurrent_moves_serialise_and_the_audit_log_names_each_holder(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection
    ) -> None:
        name, _ = await new_model(api, org_a, versions=3)
        owner = api.as_(org_a)
        await owner.put(f"/api/v1/models/{name}/aliases/production", json={"version": 1})
        moves = await asyncio.gather(
            owner.put(f"/api/v1/models/{name}/aliases/production", json={"version": 2}),
            owner.put(f"/api/v1/models/{name}/aliases/production", json={"version": 3}),
        )
        assert [m.status_code for m in moves] == [200, 200]
        answers = {m.json()["version"]: m.json()["previous_version"] for m in moves}
        # One move found version 1 and the other found the first move's version: never both 1.
        first = next(v for v, prev in answers.items() if prev == 1)
        second = next(v for v in answers if v != first)
        assert answers[second] == first
        final = await owner.get(f"/api/v1/models/{name}/aliases/production")
        assert final.json()["version"] == second
        rows = owner_conn.execute(
            "SELECT count(*) FROM model_aliases a JOIN registered_models m"
            " ON m.id = a.registered_model_id WHERE m.name = %s AND a.alias = 'production'",
            (name,),
        ).fetchone()
        assert rows == (1,)
        events = (
            await owner.get(
                "/api/v1/audit/events", params={"action": "model.alias.set", "limit": 200}
            )
        ).json()["items"]
        moved = sorted(
            (e for e in events if e["summary"]["after"]["alias"] == "production"),
            key=lambda e: e["seq"],
        )[-3:]
        assert [
            (e["summary"]["before"]["version"], e["summary"]["after"]["version"]) for e in moved
        ] == [
            (None, 1),
            (1, first),
            (first, second),
        ]


class TestResolve:
    async def test_resolve_is_what_serving_calls(
        self, api: Api, org_a: Tenant, services: Any
    ) -> None:
        """``RegistryService.resolve`` by number, alias and latest, scoped to the tenant."""
        from raylane.core.registry.service import registry_service
        from raylane.errors import NotFound
        from raylane.infra.db.session import Database
        from raylane.infra.db.urls import app_url

        name, _ = await new_model(api, org_a, versions=2)
        await api.as_(org_a).put(f"/api/v1/models/{name}/aliases/staging", json={"version": 1})
        db = Database(app_url(services))
        try:
            async with db.session(organization_id=uuid.UUID(org_a.organization_id)) as session:
                staging = await registry_service.resolve(session, name, "staging")
                assert staging.version == 1 and staging.artifact_key
                assert (await registry_service.resolve(session, name, "latest")).version == 2
                assert (await registry_service.resolve(session, name, 2)).version == 2
            async with db.session(organization_id=uuid.uuid4()) as session:
                try:
                    await registry_service.resolve(session, name, "staging")
                except NotFound:
                    pass
                else:
                    raise AssertionError("another organization resolved the model")
        finally:
            await db.dispose()


class TestTenancy:
    async def test_another_organization_gets_404(
        self, api: Api, org_a: Tenant, org_b: Tenant
    ) -> None:
        name, made = await new_model(api, org_a)
        await api.as_(org_a).put(f"/api/v1/models/{name}/aliases/production", json={"version": 1})
        theirs = api.as_(org_b)
        for path in [
            f"/api/v1/models/{name}",
            f"/api/v1/models/{name}/versions",
            f"/api/v1/models/{name}/versions/1",
            f"/api/v1/models/{name}/aliases/production",
        ]:
            assert (await theirs.get(path)).status_code == 404, path
        r = await theirs.put(f"/api/v1/models/{name}/aliases/production", json={"version": 1})
        assert r.status_code == 404
        # Their own model cannot take a version from our run.
        mine = f"m-{uuid.uuid4().hex[:8]}"
        await theirs.post("/api/v1/models", json={"name": mine})
        r = await theirs.post(
            f"/api/v1/models/{mine}/versions",
            json={"experiment_run_id": made["run"]["id"], "artifact_path": "model/head.json"},
        )
        assert r.status_code == 404
        listed = (await theirs.get("/api/v1/models", params={"limit": 200})).json()["items"]
        assert name not in {m["name"] for m in listed}


def test_cli_smoke_for_datasets_experiments_and_models(
    live_api: LiveApi,  # noqa: F811  (the fixture)
    tmp_path: Path,
) -> None:
    """Every new command group against the API on a real port, through the SDK as users run it."""
    import json

    from typer.testing import CliRunner

    from raylane.cli.main import app
    from raylane.client import Client

    def cli(*args: str) -> Any:
        result = CliRunner().invoke(
            app, ["--url", live_api.url, "--api-key", live_api.token, *args], env={"COLUMNS": "200"}
        )
        assert result.exit_code == 0, result.output
        return result

    with Client(live_api.url, live_api.token) as client:
        project = client.projects.create(name=f"cli-{uuid.uuid4().hex[:6]}")
    dataset = json.loads(
        cli("datasets", "create", "--project", str(project.id), "--name", "d", "-o", "json").stdout
    )
    cli("datasets", "upload", dataset["id"], str(DATA))
    assert "300" in cli("datasets", "versions", dataset["id"]).stdout
    out = tmp_path / "rows.jsonl"
    cli("datasets", "download", dataset["id"], "1", "--to", str(out))
    assert out.read_bytes().count(b"\n") == 300
    assert "intents" not in cli("datasets", "list", "--project", str(project.id)).stdout

    experiment = json.loads(
        cli(
            "experiments", "create", "--project", str(project.id), "--name", "e", "-o", "json"
        ).stdout
    )
    with Client(live_api.url, live_api.token) as client:
        with client.experiments.start_run(experiment=experiment["id"]) as run:
            run.log_metrics({"accuracy": 0.9}, step=1)
            run.log_artifact(("head.json", b"{}"), artifact_path="model/head.json")
        other = client.experiments.start_run(experiment=experiment["id"])
        other.log_metric("accuracy", 0.5)
    runs = json.loads(
        cli(
            "experiments",
            "runs",
            experiment["id"],
            "--filter",
            "metric.accuracy > 0.8",
            "-o",
            "json",
        ).stdout
    )
    assert [r["id"] for r in runs] == [str(run.id)]
    assert "accuracy" in cli("experiments", "run", str(run.id)).stdout
    assert json.loads(cli("experiments", "history", str(run.id)).stdout)[0]["key"] == "accuracy"
    compared = json.loads(cli("experiments", "compare", str(run.id), str(other.id)).stdout)
    assert set(compared["metrics"]["accuracy"]) == {str(run.id), str(other.id)}
    cli("experiments", "end", str(other.id), "--status", "killed")
    artifacts = json.loads(cli("experiments", "artifacts", str(run.id), "-o", "json").stdout)
    cli(
        "experiments",
        "download-artifact",
        str(run.id),
        artifacts[0]["id"],
        "--to",
        str(tmp_path / "a"),
    )
    assert "e" in cli("experiments", "list", "--project", str(project.id)).stdout

    name = f"cli-{uuid.uuid4().hex[:6]}"
    cli("models", "create", name)
    cli("models", "register", name, "--run", str(run.id), "--artifact", "model/head.json")
    moved = json.loads(
        cli("models", "alias", name, "production", "--version", "1", "-o", "json").stdout
    )
    assert moved == {"alias": "production", "version": 1, "previous_version": None}
    assert (
        json.loads(cli("models", "version", name, "production", "-o", "json").stdout)["version"]
        == 1
    )
    assert name in cli("models", "list").stdout
    assert "production" in cli("models", "get", name).stdout
    assert "model/head.json" in cli("models", "versions", name).stdout
    cli("models", "unalias", name, "production")
