"""Requests and resources for the dataset, experiment and registry routes in the generated
RBAC matrix and the cross-tenant sweep (``route_table`` merges them).

Bodies are built without arguments, so the one body that names another resource (a model
version's tracking run) reads the run made by the latest ``training_resources`` call.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from tests.factories import Api, Tenant

_LATEST: dict[str, str] = {}
_ROWS = b'{"text": "refund please", "label": "billing"}\n{"text": "it crashed", "label": "bug"}\n'


def _unique_rows() -> bytes:
    return _ROWS + f'{{"text": "{uuid.uuid4().hex}", "label": "bug"}}\n'.encode()


BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/projects/{project_id}/datasets"): lambda: {"name": f"d-{uuid.uuid4().hex}"},
    ("POST", "/api/v1/datasets/{dataset_id}/snapshot"): lambda: None,
    ("POST", "/api/v1/projects/{project_id}/experiments"): lambda: {
        "name": f"e-{uuid.uuid4().hex}"
    },
    ("POST", "/api/v1/experiments/{experiment_id}/runs"): lambda: {"params": {"lr": "0.1"}},
    ("POST", "/api/v1/experiment-comparisons"): lambda: {
        "experiment_run_ids": [_LATEST["experiment_run_id"], _LATEST["other_run_id"]]
    },
    ("POST", "/api/v1/experiment-runs/{experiment_run_id}/log"): lambda: {
        "metrics": [{"key": "loss", "value": 0.5, "step": 1}],
        "tags": {"k": uuid.uuid4().hex},
    },
    ("POST", "/api/v1/experiment-runs/{experiment_run_id}/end"): lambda: {"status": "finished"},
    ("POST", "/api/v1/models"): lambda: {"name": f"m-{uuid.uuid4().hex[:12]}"},
    ("PATCH", "/api/v1/models/{model_name}"): lambda: {"description": "d"},
    ("POST", "/api/v1/models/{model_name}/versions"): lambda: {
        "experiment_run_id": _LATEST["experiment_run_id"],
        "artifact_path": "model/head.json",
    },
    ("PUT", "/api/v1/models/{model_name}/aliases/{alias}"): lambda: {"version": 1},
    ("POST", "/api/v1/projects/{project_id}/training-runs"): lambda: {
        "dataset_version_id": _LATEST["dataset_version_id"]
    },
    ("POST", "/api/v1/models/{model_name}/predict"): lambda: {"inputs": ["refund please"]},
    ("POST", "/api/v1/models/{model_name}/batch-predictions"): lambda: {
        "dataset_version_id": _LATEST["dataset_version_id"]
    },
}
MULTIPART: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/datasets/{dataset_id}/upload"): lambda: {
        "files": {"file": ("rows.jsonl", _unique_rows())}
    },
    ("POST", "/api/v1/experiment-runs/{experiment_run_id}/artifacts"): lambda: {
        "files": {"file": ("a.bin", uuid.uuid4().bytes)},
        "data": {"path": f"extra/{uuid.uuid4().hex}"},
    },
}


async def _labeled_chunks(api: Api, tenant: Tenant, collection_id: str) -> None:
    """Chunks as an ingest writes them (no Ray here), through the app's own tenant session."""
    transport: Any = api.http._transport  # the in-process app (ASGITransport)
    db = transport.app.state.platform.db
    async with db.session(organization_id=uuid.UUID(tenant.organization_id)) as session:
        documents = await session.execute(
            text("SELECT id, metadata FROM documents WHERE collection_id = :c"),
            {"c": collection_id},
        )
        for document_id, metadata in documents.all():
            await session.execute(
                text(
                    "INSERT INTO chunks (id, organization_id, collection_id, document_id,"
                    " chunk_index, content_hash, model, text, token_count, metadata, dimensions,"
                    " embedding) VALUES (:id, :org, :c, :d, 0, 'h', 'all-MiniLM-L6-v2', :t, 2,"
                    " CAST(:m AS jsonb), 384, CAST(:e AS vector))"
                ),
                {
                    "id": uuid.uuid4(),
                    "org": tenant.organization_id,
                    "c": collection_id,
                    "d": document_id,
                    "t": f"text of {metadata['topic']}",
                    "m": f'{{"topic": "{metadata["topic"]}"}}',
                    "e": "[" + ",".join(["0.1"] * 384) + "]",
                },
            )


def _classifier() -> bytes:
    """A servable model artifact (an untrained head over MiniLM): predict answers 200."""
    from raylane.core.training.classifier import Classifier, Head, save_head
    from raylane.infra.embeddings import BUILTIN

    return save_head(Classifier(head=Head(384, 2), labels=["billing", "bug"], encoder=BUILTIN))


async def training_resources(api: Api, tenant: Tenant, project_id: str) -> dict[str, str]:
    """A dataset linked to a labeled collection (with a version), an experiment with two runs
    (one with an artifact), and a model with version 1 aliased ``production``."""
    owner = api.as_(tenant)
    collection = (
        await owner.post(
            f"/api/v1/projects/{project_id}/collections",
            json={
                "name": f"labeled-{uuid.uuid4().hex[:6]}",
                "metadata_schema": {"topic": "string"},
            },
        )
    ).json()
    await owner.post(
        f"/api/v1/collections/{collection['id']}/documents/text",
        json={
            "documents": [
                {"name": "a.txt", "text": "refund", "metadata": {"topic": "billing"}},
                {"name": "b.txt", "text": "crash", "metadata": {"topic": "bug"}},
            ]
        },
    )
    await _labeled_chunks(api, tenant, collection["id"])
    dataset = (
        await owner.post(
            f"/api/v1/projects/{project_id}/datasets",
            json={"name": "fixture", "collection_id": collection["id"], "label_field": "topic"},
        )
    ).json()
    r = await owner.post(
        f"/api/v1/datasets/{dataset['id']}/upload", files={"file": ("r.jsonl", _ROWS)}
    )
    assert r.status_code == 201, r.text
    dataset_version_id = r.json()["version"]["id"]
    training = await owner.post(
        f"/api/v1/projects/{project_id}/training-runs",
        json={"dataset_version_id": dataset_version_id},
    )
    assert training.status_code == 202, training.text
    experiment = (
        await owner.post(f"/api/v1/projects/{project_id}/experiments", json={"name": "fixture"})
    ).json()
    runs = [
        (await owner.post(f"/api/v1/experiments/{experiment['id']}/runs", json={})).json()
        for _ in range(2)
    ]
    artifact = (
        await owner.post(
            f"/api/v1/experiment-runs/{runs[0]['id']}/artifacts",
            files={"file": ("head.json", _classifier())},
            data={"path": "model/head.json"},
        )
    ).json()["artifact"]
    name = f"fixture-{uuid.uuid4().hex[:8]}"
    await owner.post("/api/v1/models", json={"name": name})
    r = await owner.post(
        f"/api/v1/models/{name}/versions",
        json={"experiment_run_id": runs[0]["id"], "artifact_path": "model/head.json"},
    )
    assert r.status_code == 201, r.text
    await owner.put(f"/api/v1/models/{name}/aliases/production", json={"version": 1})
    ids = {
        "dataset_id": dataset["id"],
        "dataset_version": "1",
        "experiment_id": experiment["id"],
        "experiment_run_id": runs[0]["id"],
        "other_run_id": runs[1]["id"],
        "artifact_id": artifact["id"],
        "model_name": name,
        "version": "1",
        "alias": "production",
        "dataset_version_id": dataset_version_id,
        "training_run_id": training.json()["id"],
    }
    _LATEST.clear()
    _LATEST.update(ids)
    return ids
