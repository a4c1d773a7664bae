"""SDK and CLI for durable runs against a fake API: ``runs logs -f`` (only new lines, a new
attempt from its start, the exit code of the outcome), ``runs replay``, and the
``Idempotency-Key`` every run-creating call sends (the same one on its own retries)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from raylane.cli import context
from raylane.cli.main import app
from raylane.client import Client, IdempotencyKeyReused
from raylane.client.resources import runs as sdk_runs
from tests.unit.fake_api import API_KEY, BASE_URL, FakeApi, isolate_env, run_json

CONN = ["--url", BASE_URL, "--api-key", API_KEY]
RID = str(uuid.uuid4())
CID = str(uuid.uuid4())
RUN = f"/api/v1/runs/{RID}"


@pytest.fixture(autouse=True)
def config_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(sdk_runs, "CREATE_RETRY_S", 0.0)
    return isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    context.set_transport_factory(fake.transport)
    yield fake
    context.set_transport_factory(None)


def cli(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, [*CONN, *args], env={"COLUMNS": "200"})


def piece(text: str, *, status: str, job: str | None, offset: int, end: int) -> dict[str, Any]:
    return {
        "run_id": RID,
        "ray_job_id": job,
        "logs": text,
        "status": status,
        "offset": offset,
        "next_offset": end,
    }


class TestLogsFollow:
    def test_prints_only_new_text_and_exits_0_on_success(self, api: FakeApi) -> None:
        logs = f"{RUN}/logs"
        api.on("GET", logs, body=piece("", status="queued", job=None, offset=0, end=0))
        api.on("GET", logs, body=piece("a\n", status="running", job="j1", offset=0, end=2))
        api.on("GET", logs, body=piece("b\n", status="running", job="j1", offset=2, end=4))
        api.on("GET", logs, body=piece("c\n", status="succeeded", job="j1", offset=4, end=6))
        api.on("GET", RUN, body=run_json("succeeded", id=RID))
        result = cli("runs", "logs", "-f", RID, "--interval", "0")
        assert result.exit_code == 0, result.output
        assert result.stdout == "a\nb\nc\n"
        offsets = [r.url.params.get("offset") for r in api.requests if r.url.path == logs]
        assert offsets == [None, None, "2", "4"]

    def test_a_new_attempt_is_read_from_its_start_and_a_dead_letter_exits_1(
        self, api: FakeApi
    ) -> None:
        logs = f"{RUN}/logs"
        api.on("GET", logs, body=piece("try 1\n", status="running", job="j1", offset=0, end=6))
        # The reconciler requeued and resubmitted: another job, whose log is shorter.
        api.on("GET", logs, body=piece("", status="running", job="j2", offset=6, end=3))
        api.on("GET", logs, body=piece("t2\n", status="running", job="j2", offset=0, end=3))
        api.on("GET", logs, body=piece("", status="dead_lettered", job="j2", offset=3, end=3))
        api.on("GET", RUN, body=run_json("dead_lettered", id=RID, error="attempt 2: boom"))
        result = cli("runs", "logs", "--follow", RID, "--interval", "0")
        assert result.exit_code == 1, result.output
        assert result.stdout == "try 1\nt2\n"
        assert "new attempt" in result.stderr and "attempt 2: boom" in result.stderr
        offsets = [r.url.params.get("offset") for r in api.requests if r.url.path == logs]
        assert offsets == [None, "6", None, "3"]


class TestReplay:
    def test_cli_replay_shows_the_new_run(self, api: FakeApi) -> None:
        new = run_json("queued", replay_of=RID)
        api.on("POST", f"{RUN}/replay", status=202, body=new)
        result = cli("runs", "replay", RID, "-o", "json")
        assert result.exit_code == 0, result.output
        assert new["id"] in result.stdout and RID in result.stdout
        assert api.requests[0].headers["Idempotency-Key"]

    def test_list_refuses_an_unknown_status_before_sending(self, api: FakeApi) -> None:
        result = cli("runs", "list", "--status", "dead")
        assert result.exit_code == 2 and api.requests == []


class TestIdempotencyKeys:
    def test_each_ingest_sends_a_fresh_key_and_retries_keep_it(self, api: FakeApi) -> None:
        path = f"/api/v1/collections/{CID}/ingest"

        def down(_: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused")

        api.handle("POST", path, down)
        api.on("POST", path, status=503, body={"error": "service_unavailable", "detail": "db"})
        api.on("POST", path, status=202, body=run_json("queued", id=RID))
        api.on("POST", path, status=202, body=run_json("queued"))
        with Client(BASE_URL, api_key=API_KEY, transport=api.transport()) as client:
            assert str(client.collections.ingest(CID).id) == RID
            client.collections.ingest(CID)
        keys = [r.headers["Idempotency-Key"] for r in api.requests]
        assert keys[0] == keys[1] == keys[2] and keys[3] != keys[0]  # three tries, one key

    def test_a_given_key_is_sent_and_reuse_is_a_typed_error(self, api: FakeApi) -> None:
        path = f"/api/v1/collections/{CID}/ingest"
        api.error("POST", path, status=409, code="idempotency_key_reused")
        with (
            Client(BASE_URL, api_key=API_KEY, transport=api.transport()) as client,
            pytest.raises(IdempotencyKeyReused),
        ):
            client.collections.ingest(CID, idempotency_key="mine")
        assert [r.headers["Idempotency-Key"] for r in api.requests] == ["mine"]  # not retried
