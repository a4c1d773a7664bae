"""The SDK's training-run and batch-prediction creation send an ``Idempotency-Key`` (given or
random) and retry transient failures with the same key, like ingest and replay."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from raylane.client import AsyncClient, Client, IdempotencyKeyReused
from raylane.client.resources import runs as sdk_runs
from tests.unit.fake_api import API_KEY, BASE_URL, FakeApi, isolate_env, run_json

PID = str(uuid.uuid4())
RID = str(uuid.uuid4())
DVID = str(uuid.uuid4())
TRAIN = f"/api/v1/projects/{PID}/training-runs"
BATCH = "/api/v1/models/intents/batch-predictions"


@pytest.fixture(autouse=True)
def config_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(sdk_runs, "CREATE_RETRY_S", 0.0)
    return isolate_env(monkeypatch, tmp_path)


def train_run(**over: Any) -> dict[str, Any]:
    return run_json("queued", kind="train", project_id=PID) | {"params": {}} | over


def down(_: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused")


def flaky(api: FakeApi, path: str) -> None:
    """A refused connection, a 503, then the run; then a second, distinct run."""
    api.handle("POST", path, down)
    api.on("POST", path, status=503, body={"error": "service_unavailable", "detail": "db"})
    api.on("POST", path, status=202, body=train_run(id=RID))
    api.on("POST", path, status=202, body=train_run())


def keys(api: FakeApi) -> list[str]:
    return [r.headers["Idempotency-Key"] for r in api.requests]


class TestTrainingCreate:
    def test_each_create_sends_a_fresh_key_and_retries_keep_it(self) -> None:
        api = FakeApi()
        flaky(api, TRAIN)
        with Client(BASE_URL, api_key=API_KEY, transport=api.transport()) as client:
            assert str(client.training.create(PID, dataset_version_id=DVID).id) == RID
            client.training.create(PID, dataset_version_id=DVID)
        sent = keys(api)
        assert sent[0] == sent[1] == sent[2] and sent[3] != sent[0]  # three tries, one key

    def test_a_given_key_is_sent_and_reuse_is_a_typed_error(self) -> None:
        api = FakeApi()
        api.error("POST", TRAIN, status=409, code="idempotency_key_reused")
        with (
            Client(BASE_URL, api_key=API_KEY, transport=api.transport()) as client,
            pytest.raises(IdempotencyKeyReused),
        ):
            client.training.create(PID, dataset_version_id=DVID, idempotency_key="mine")
        assert keys(api) == ["mine"]  # not retried

    def test_async_create_retries_with_one_key(self) -> None:
        api = FakeApi()
        flaky(api, TRAIN)

        async def go() -> str:
            async with AsyncClient(BASE_URL, api_key=API_KEY, transport=api.transport()) as client:
                run = await client.training.create(PID, dataset_version_id=DVID)
                return str(run.id)

        assert asyncio.run(go()) == RID
        sent = keys(api)
        assert len(sent) == 3 and len(set(sent)) == 1


class TestBatchPredict:
    def test_batch_predict_sends_one_key_across_retries(self) -> None:
        api = FakeApi()
        flaky(api, BATCH)
        with Client(BASE_URL, api_key=API_KEY, transport=api.transport()) as client:
            run = client.training.batch_predict(
                "intents", dataset_version_id=DVID, alias="production"
            )
        assert str(run.id) == RID
        sent = keys(api)
        assert len(sent) == 3 and len(set(sent)) == 1
        assert api.requests[-1].read() and b'"alias":"production"' in api.requests[-1].read()

    def test_a_given_key_is_sent(self) -> None:
        api = FakeApi()
        api.on("POST", BATCH, status=202, body=train_run(id=RID))
        with Client(BASE_URL, api_key=API_KEY, transport=api.transport()) as client:
            client.training.batch_predict("intents", dataset_version_id=DVID, idempotency_key="k1")
        assert keys(api) == ["k1"]
