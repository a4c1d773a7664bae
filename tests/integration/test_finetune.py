"""The ``minilm-finetuned`` base end to end, as ``test_training_job`` runs the frozen one: the API
queues the run, the job trains the bundled MiniLM with the head on Ray Train in this process's
Ray, the model is registered, aliased, served through HTTP with its own encoder, and
batch-predicted. Bad fine-tune settings are a 422 that queues nothing."""

from __future__ import annotations

import time
import uuid
from typing import Any

import numpy as np
import psycopg
import pytest

from raylane.core.training.classifier import load_model
from raylane.core.training.finetune import FINETUNED
from raylane.core.training.tracking import read_artifact
from raylane.infra import embeddings
from tests.factories import Api, Tenant
from tests.integration.test_training_job import (  # noqa: F401 (ray_cluster is a fixture)
    create_run,
    dataset_version,
    kill_and_resume,
    ray_cluster,
    run_job,
    start,
)

TEXTS = [
    "The striker scored twice in the second half of the cup final.",
    "Whisk the eggs with sugar, then fold in the flour and bake for thirty minutes.",
]


class TestFinetunedRun:
    @pytest.mark.usefixtures("ray_cluster")
    async def test_trains_registers_and_serves_its_own_encoder(
        self,
        api: Api,
        org_a: Tenant,
        org_b: Tenant,
        owner_conn: psycopg.Connection,
    ) -> None:
        project_id, version_id = await dataset_version(api, org_a)
        run = await create_run(
            api, org_a, project_id, dataset_version_id=version_id, base=FINETUNED
        )
        # The fine-tune's defaults are filled into the run's params, so the run says what ran.
        assert run["params"]["base"] == FINETUNED
        assert run["params"]["hyperparameters"]["encoder_learning_rate"] == 5e-5
        assert run["params"]["hyperparameters"]["max_length"] == 128
        assert run["params"]["hyperparameters"]["epochs"] == 4
        start(owner_conn, run["id"])
        started = time.perf_counter()
        result = await run_job(run["id"])
        print(f"fine-tuned run: {time.perf_counter() - started:.1f} s, {result['evaluation']}")
        assert result["base"] == FINETUNED
        evaluation = result["evaluation"]
        assert evaluation["accuracy"] >= result["majority_baseline"] + 0.4, result
        assert evaluation["macro_f1"] >= 0.8
        matrix = evaluation["confusion_matrix"]
        assert len(matrix) == 4 and sum(map(sum, matrix)) == result["examples"]["heldout"]
        epochs = run["params"]["hyperparameters"]["epochs"]
        got = (
            await api.as_(org_a).get(f"/api/v1/projects/{project_id}/training-runs/{run['id']}")
        ).json()
        assert got["status"] == "succeeded"
        assert [h["epoch"] for h in got["progress"]["history"]] == list(range(1, epochs + 1))
        assert {"loss", "val_accuracy", "val_macro_f1"} <= set(got["progress"]["history"][-1])

        # The artifact carries its own encoder, tuned away from the bundled weights.
        model = load_model(await read_artifact(result["artifact_key"]))
        assert model.base == FINETUNED and model.tuned is not None
        assert model.extra["base"] == FINETUNED

        owner = api.as_(org_a)
        name = f"tuned-{uuid.uuid4().hex[:8]}"
        assert (await owner.post("/api/v1/models", json={"name": name})).status_code == 201
        r = await owner.post(
            f"/api/v1/models/{name}/versions",
            json={
                "experiment_run_id": result["experiment_run_id"],
                "artifact_path": result["artifact_path"],
            },
        )
        assert r.status_code == 201, r.text
        r = await owner.put(f"/api/v1/models/{name}/aliases/production", json={"version": 1})
        assert r.status_code == 200, r.text
        served = []
        for selector in ({"alias": "production"}, {"version": "1"}):
            r = await owner.post(
                f"/api/v1/models/{name}/predict", json={"inputs": TEXTS, **selector}
            )
            assert r.status_code == 200, r.text
            served.append(r.json()["predictions"])
        assert served[0] == served[1]
        assert [p["label"] for p in served[0]] == ["sports", "cooking"]
        # Served with its own encoder: the head over the bundled encoder answers otherwise.
        got_probs = np.array([[p["probabilities"][x] for x in model.labels] for p in served[0]])
        np.testing.assert_allclose(got_probs, model.predict_texts(TEXTS), atol=1e-5)
        shared = embeddings.load(str(embeddings.default_model_dir()))
        frozen_probs = model.predict_vectors(shared.encode(TEXTS, normalize_embeddings=True))
        assert np.abs(got_probs - frozen_probs).max() > 1e-3

        r = await api.as_(org_b).post(f"/api/v1/models/{name}/predict", json={"inputs": TEXTS})
        assert r.status_code == 404
        r = await owner.post(
            f"/api/v1/models/{name}/batch-predictions",
            json={"dataset_version_id": version_id, "alias": "production"},
        )
        assert r.status_code == 202, r.text
        start(owner_conn, r.json()["id"])
        predicted = await run_job(r.json()["id"], "predict")
        assert predicted["rows"] == 300
        assert predicted["accuracy"] >= 0.8

    @pytest.mark.usefixtures("ray_cluster")
    async def test_a_killed_worker_resumes_encoder_and_head_from_the_checkpoint(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection
    ) -> None:
        epochs, batch = 6, 32
        _, result, _, killed_at, per_epoch = await kill_and_resume(
            api, org_a, owner_conn, epochs=epochs, batch=batch, base=FINETUNED, max_length=32
        )
        # A restart from zero would train every epoch again after the ones seen before the kill.
        assert result["steps"] < (epochs + killed_at) * per_epoch
        # The resumed encoder kept learning: the model is as good as an uninterrupted one.
        assert result["evaluation"]["accuracy"] >= result["majority_baseline"] + 0.4, result


class TestFinetuneInput:
    async def test_bad_settings_are_422_and_nothing_is_queued(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection
    ) -> None:
        project_id, version_id = await dataset_version(api, org_a)
        url = f"/api/v1/projects/{project_id}/training-runs"
        tuned: dict[str, Any] = {"dataset_version_id": version_id, "base": FINETUNED}
        for body in (
            tuned | {"hyperparameters": {"encoder_learning_rate": 0.5}},
            tuned | {"hyperparameters": {"encoder_learning_rate": 0}},
            tuned | {"hyperparameters": {"max_length": 4}},
            tuned | {"hyperparameters": {"max_length": 100_000}},
            tuned | {"hyperparameters": {"max_length": "64"}},
            # A Tune search trains heads over cached embeddings: not with a fine-tune.
            tuned | {"search": {"learning_rate": [0.01, 0.001]}},
            # The encoder's settings mean nothing to the frozen base: said, not ignored.
            {"dataset_version_id": version_id, "hyperparameters": {"max_length": 64}},
            {
                "dataset_version_id": version_id,
                "base": "minilm-frozen",
                "hyperparameters": {"encoder_learning_rate": 1e-5},
            },
            {"dataset_version_id": version_id, "base": "minilm-tuned"},
        ):
            r = await api.as_(org_a).post(url, json=body)
            assert r.status_code == 422, (body, r.text)
            assert r.json()["error"] == "validation_error"
        row = owner_conn.execute(
            "SELECT count(*) FROM runs WHERE project_id = %s", (project_id,)
        ).fetchone()
        assert row is not None and row[0] == 0
        r = await api.as_(org_a).post(url, json=tuned | {"hyperparameters": {"max_length": 64}})
        assert r.status_code == 202, r.text
        assert r.json()["params"]["hyperparameters"]["max_length"] == 64
