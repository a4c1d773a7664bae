"""Deleting a project leaves no orphan objects: its dataset versions' and experiment
artifacts' stored objects go through the deletion outbox in the delete's own transaction (a
delete that fails to commit keeps them all), except an artifact a registered model version
serves: models belong to the organization, so that object stays and the model stays loadable.

Real Postgres, real file store, the API in process."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from tests.factories import Api, Tenant
from tests.integration.test_object_lifecycle import commits_fail, outbox

ROWS = b'{"text": "refund please", "label": "billing"}\n{"text": "it crashed", "label": "bug"}\n'


@pytest.fixture(scope="module")
def objects_root(services: Any) -> Path:
    url = urlsplit(services.storage_url)
    assert url.scheme == "file", "these tests expect the default file store"
    return Path(unquote(url.path))


async def project_with_objects(api: Api, tenant: Tenant) -> dict[str, str]:
    """A project with a dataset version and a tracking run holding two artifacts."""
    owner = api.as_(tenant)
    project = (await owner.post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex}"})).json()
    r = await owner.post(f"/api/v1/projects/{project['id']}/datasets", json={"name": "d"})
    assert r.status_code == 201, r.text
    r = await owner.post(
        f"/api/v1/datasets/{r.json()['id']}/upload", files={"file": ("r.jsonl", ROWS)}
    )
    assert r.status_code == 201, r.text
    version_id = r.json()["version"]["id"]
    r = await owner.post(f"/api/v1/projects/{project['id']}/experiments", json={"name": "e"})
    assert r.status_code == 201, r.text
    r = await owner.post(f"/api/v1/experiments/{r.json()['id']}/runs", json={})
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    artifacts = {}
    for path in ("model/head.bin", "notes/plot.bin"):
        r = await owner.post(
            f"/api/v1/experiment-runs/{run_id}/artifacts",
            files={"file": ("a.bin", uuid.uuid4().bytes)},
            data={"path": path},
        )
        assert r.status_code == 201, r.text
        artifacts[path] = r.json()["artifact"]["id"]
    return {
        "project_id": project["id"],
        "version_id": version_id,
        "run_id": run_id,
        "model_artifact": artifacts["model/head.bin"],
        "other_artifact": artifacts["notes/plot.bin"],
    }


def key(owner_conn: Any, table: str, row_id: str) -> str:
    found = owner_conn.execute(f"SELECT object_key FROM {table} WHERE id = %s", (row_id,))
    row = found.fetchone()
    assert row is not None
    return str(row[0])


class TestProjectDelete:
    async def test_dataset_and_artifact_objects_go_with_the_project(
        self, api: Api, org_a: Tenant, objects_root: Path, owner_conn: Any
    ) -> None:
        made = await project_with_objects(api, org_a)
        paths = [
            objects_root / key(owner_conn, "dataset_versions", made["version_id"]),
            objects_root / key(owner_conn, "experiment_artifacts", made["model_artifact"]),
            objects_root / key(owner_conn, "experiment_artifacts", made["other_artifact"]),
        ]
        assert all(p.exists() for p in paths)

        r = await api.as_(org_a).delete(f"/api/v1/projects/{made['project_id']}")
        assert r.status_code == 204, r.text

        assert [p.exists() for p in paths] == [False, False, False]
        assert outbox(owner_conn, org_a) == []

    async def test_an_artifact_a_model_version_serves_is_kept(
        self, api: Api, org_a: Tenant, objects_root: Path, owner_conn: Any
    ) -> None:
        made = await project_with_objects(api, org_a)
        owner = api.as_(org_a)
        name = f"m-{uuid.uuid4().hex[:10]}"
        assert (await owner.post("/api/v1/models", json={"name": name})).status_code == 201
        r = await owner.post(
            f"/api/v1/models/{name}/versions",
            json={"experiment_run_id": made["run_id"], "artifact_path": "model/head.bin"},
        )
        assert r.status_code == 201, r.text
        served = objects_root / key(owner_conn, "experiment_artifacts", made["model_artifact"])
        other = objects_root / key(owner_conn, "experiment_artifacts", made["other_artifact"])
        dataset = objects_root / key(owner_conn, "dataset_versions", made["version_id"])
        served_bytes = served.read_bytes()

        r = await owner.delete(f"/api/v1/projects/{made['project_id']}")
        assert r.status_code == 204, r.text

        assert served.read_bytes() == served_bytes  # the model version still loads it
        assert not other.exists() and not dataset.exists()
        assert outbox(owner_conn, org_a) == []
        version = (await owner.get(f"/api/v1/models/{name}/versions/1")).json()
        assert served.relative_to(objects_root).as_posix() == key_of_version(owner_conn, version)
        event = owner_conn.execute(
            "SELECT summary FROM audit_events WHERE action = 'project.delete' AND target_id = %s",
            (made["project_id"],),
        ).fetchone()
        assert event is not None and event[0]["after"] == {"artifacts_kept_for_models": [name]}

    async def test_a_delete_that_fails_to_commit_keeps_every_object(
        self, api: Api, org_a: Tenant, objects_root: Path, owner_conn: Any, app: Any
    ) -> None:
        made = await project_with_objects(api, org_a)
        paths = [
            objects_root / key(owner_conn, "dataset_versions", made["version_id"]),
            objects_root / key(owner_conn, "experiment_artifacts", made["other_artifact"]),
        ]

        with commits_fail(app):
            r = await api.as_(org_a).delete(f"/api/v1/projects/{made['project_id']}")
        assert r.status_code == 500

        assert all(p.exists() for p in paths)
        assert outbox(owner_conn, org_a) == []  # rolled back with the delete


def key_of_version(owner_conn: Any, version: dict[str, Any]) -> str:
    row = owner_conn.execute(
        "SELECT artifact_key FROM model_versions WHERE id = %s", (version["id"],)
    ).fetchone()
    assert row is not None
    return str(row[0])
