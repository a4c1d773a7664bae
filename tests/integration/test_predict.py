"""Predict through HTTP: a classifier trained notebook-style, logged as a tracking run's
artifact, registered and aliased, then served by alias and by version from the app's model LRU.
Another tenant's model is a 404; an artifact that is not a classifier is refused, never
unpickled."""

from __future__ import annotations

import json
import pickle
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from raylane.core.training.classifier import Classifier, Head, save_head, train_epoch
from raylane.infra import embeddings
from tests.factories import Api, Tenant

DATA = Path(__file__).parents[1] / "data" / "train_small.jsonl"
ARTIFACT = "model/model.safetensors"


@pytest.fixture(scope="module")
def trained() -> bytes:
    """A head over MiniLM trained in this process, as a notebook user would."""
    rows = [json.loads(line) for line in DATA.read_text().splitlines()][::2]
    labels = sorted({r["label"] for r in rows})
    encoder = embeddings.load(str(embeddings.default_model_dir()))
    x = torch.as_tensor(
        encoder.encode([r["text"] for r in rows], normalize_embeddings=True), dtype=torch.float32
    )
    y = torch.as_tensor([labels.index(r["label"]) for r in rows])
    torch.manual_seed(0)
    head = Head(x.shape[1], len(labels))
    optimizer = torch.optim.AdamW(head.parameters(), lr=0.05)
    for _ in range(30):
        list(train_epoch(head, optimizer, [(x, y)]))
    return save_head(Classifier(head=head, labels=labels, encoder=embeddings.BUILTIN))


async def tracked_artifact(api: Api, tenant: Tenant, data: bytes) -> str:
    """A tracking run holding ``data`` at ARTIFACT; returns the run's id."""
    owner = api.as_(tenant)
    project = (await owner.post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex}"})).json()
    r = await owner.post(f"/api/v1/projects/{project['id']}/experiments", json={"name": "nb"})
    assert r.status_code == 201, r.text
    r = await owner.post(f"/api/v1/experiments/{r.json()['id']}/runs", json={"name": "by-hand"})
    assert r.status_code == 201, r.text
    run_id: str = r.json()["id"]
    r = await owner.post(
        f"/api/v1/experiment-runs/{run_id}/artifacts",
        files={"file": ("model.safetensors", data)},
        data={"path": ARTIFACT},
    )
    assert r.status_code == 201, r.text
    return run_id


async def register(api: Api, tenant: Tenant, name: str, run_id: str) -> int:
    owner = api.as_(tenant)
    if (await owner.get(f"/api/v1/models/{name}")).status_code == 404:
        assert (await owner.post("/api/v1/models", json={"name": name})).status_code == 201
    r = await owner.post(
        f"/api/v1/models/{name}/versions",
        json={"experiment_run_id": run_id, "artifact_path": ARTIFACT},
    )
    assert r.status_code == 201, r.text
    return int(r.json()["version"])


TEXTS = [
    "The striker scored twice in the second half of the cup final.",
    "Whisk the eggs with sugar, then fold in the flour and bake for thirty minutes.",
]


def check(body: dict[str, Any], version: str) -> None:
    assert body["version"] == version
    predictions = body["predictions"]
    assert [p["label"] for p in predictions] == ["sports", "cooking"]
    for p in predictions:
        assert set(p["probabilities"]) == {"cooking", "finance", "sports", "tech"}
        assert abs(sum(p["probabilities"].values()) - 1.0) < 1e-4
        assert p["probabilities"][p["label"]] == max(p["probabilities"].values())


class TestPredict:
    async def test_by_alias_by_version_and_latest(
        self, api: Api, org_a: Tenant, trained: bytes, app: Any
    ) -> None:
        name = f"topics-{uuid.uuid4().hex[:8]}"
        version = await register(api, org_a, name, await tracked_artifact(api, org_a, trained))
        owner = api.as_(org_a)
        r = await owner.put(f"/api/v1/models/{name}/aliases/production", json={"version": version})
        assert r.status_code == 200, r.text
        url = f"/api/v1/models/{name}/predict"
        loads = app.state.predictor.loads if getattr(app.state, "predictor", None) else 0
        for body in ({"alias": "production"}, {"version": str(version)}, {}):
            r = await owner.post(url, json={"inputs": TEXTS, **body})
            assert r.status_code == 200, r.text
            check(r.json(), str(version))
        # One version, three requests: loaded once, then served from the LRU.
        assert app.state.predictor.loads == loads + 1

    async def test_another_tenants_model_is_404(
        self, api: Api, org_a: Tenant, org_b: Tenant, trained: bytes
    ) -> None:
        name = f"topics-{uuid.uuid4().hex[:8]}"
        await register(api, org_a, name, await tracked_artifact(api, org_a, trained))
        r = await api.as_(org_b).post(f"/api/v1/models/{name}/predict", json={"inputs": TEXTS})
        assert r.status_code == 404
        assert r.json()["error"] == "not_found"

    async def test_bad_requests_are_4xx(self, api: Api, org_a: Tenant, trained: bytes) -> None:
        name = f"topics-{uuid.uuid4().hex[:8]}"
        await register(api, org_a, name, await tracked_artifact(api, org_a, trained))
        owner = api.as_(org_a)
        url = f"/api/v1/models/{name}/predict"
        for body, status in (
            ({"inputs": []}, 422),
            ({"inputs": TEXTS, "version": "1", "alias": "production"}, 422),
            ({"inputs": ["x"], "extra": 1}, 422),
            ({"inputs": TEXTS, "alias": "staging"}, 404),
            ({"inputs": TEXTS, "version": "7"}, 404),
        ):
            r = await owner.post(url, json=body)
            assert r.status_code == status, (body, r.text)
        r = await owner.post("/api/v1/models/no-such-model/predict", json={"inputs": TEXTS})
        assert r.status_code == 404

    async def test_an_artifact_that_is_not_a_classifier_is_refused_unloaded(
        self, api: Api, org_a: Tenant, tmp_path: Path
    ) -> None:
        marker = tmp_path / "unpickled"

        class Exploit:
            def __reduce__(self) -> tuple[Any, ...]:
                return (Path.touch, (marker,))

        for payload in (pickle.dumps(Exploit()), np.zeros(4).tobytes(), b"{}"):
            name = f"bad-{uuid.uuid4().hex[:8]}"
            await register(api, org_a, name, await tracked_artifact(api, org_a, payload))
            r = await api.as_(org_a).post(f"/api/v1/models/{name}/predict", json={"inputs": TEXTS})
            assert r.status_code == 422, r.text
        assert not marker.exists()
