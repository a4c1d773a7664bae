"""``raylane train predict MODEL[:version|alias] --text ... | --file rows.jsonl`` against a
fake API: the selector is sent as version or alias, a file's rows are read and sent in parts of
the API's limit, and bad input is a usage error (exit 2) before anything is sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from raylane.cli import context
from raylane.cli import train as cli_train
from raylane.cli.main import app
from tests.unit.fake_api import API_KEY, BASE_URL, FakeApi, isolate_env

CONN = ["--url", BASE_URL, "--api-key", API_KEY]
PREDICT = "/api/v1/models/intents/predict"


@pytest.fixture(autouse=True)
def config_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    context.set_transport_factory(fake.transport)
    yield fake
    context.set_transport_factory(None)


def cli(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, [*CONN, *args], env={"COLUMNS": "200"})


def answer(request: httpx.Request) -> httpx.Response:
    """Labels each text by its first word, with the model version the request named."""
    sent = json.loads(request.content)
    version = sent.get("version") or {"production": "3"}.get(sent.get("alias"), "4")
    predictions = [
        {"label": t.split()[0].lower(), "probabilities": {t.split()[0].lower(): 0.9, "x": 0.1}}
        for t in sent["inputs"]
    ]
    body = {"model": "intents", "version": version, "predictions": predictions}
    return httpx.Response(200, json=body)


def sent(api: FakeApi) -> list[dict[str, Any]]:
    return [json.loads(r.content) for r in api.requests]


class TestPredict:
    def test_texts_with_an_alias(self, api: FakeApi) -> None:
        api.handle("POST", PREDICT, answer)
        result = cli("train", "predict", "intents:production", "-t", "Billing issue", "-t", "Bug")
        assert result.exit_code == 0, result.output
        assert sent(api) == [{"inputs": ["Billing issue", "Bug"], "alias": "production"}]
        assert "billing" in result.stdout and "0.9" in result.stdout
        assert "version 3: 2 predictions" in result.output

    @pytest.mark.parametrize(
        ("ref", "selector"),
        [
            ("intents", {}),
            ("intents:2", {"version": "2"}),
            ("intents:latest", {"version": "latest"}),
        ],
    )
    def test_a_version_or_none(self, api: FakeApi, ref: str, selector: dict[str, str]) -> None:
        api.handle("POST", PREDICT, answer)
        result = cli("train", "predict", ref, "--text", "Refund please", "-o", "json")
        assert result.exit_code == 0, result.output
        assert sent(api) == [{"inputs": ["Refund please"]} | selector]
        [row] = json.loads(result.stdout)
        assert row["text"] == "Refund please" and row["label"] == "refund"
        assert row["probability"] == 0.9

    def test_a_file_is_sent_in_parts(
        self, api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(cli_train, "PREDICT_BATCH", 2)
        api.handle("POST", PREDICT, answer)
        rows = tmp_path / "rows.jsonl"
        lines = [json.dumps({"text": f"T{i} text", "label": "x"}) for i in range(5)]
        rows.write_text("\n".join([*lines[:2], "", *lines[2:]]) + "\n")
        result = cli("train", "predict", "intents:2", "--file", str(rows), "-o", "json")
        assert result.exit_code == 0, result.output
        assert [len(s["inputs"]) for s in sent(api)] == [2, 2, 1]
        assert [r["label"] for r in json.loads(result.stdout)] == [f"t{i}" for i in range(5)]


class TestRefusals:
    def test_bad_input_is_exit_2_and_sends_nothing(self, api: FakeApi, tmp_path: Path) -> None:
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"text": "fine"}\n{"label": "no text"}\n')
        for args, says in (
            (["intents"], "--text"),
            (["intents", "-t", "a", "--file", str(bad)], "not both"),
            (["intents:", "-t", "a"], "MODEL:ALIAS"),
            ([":prod", "-t", "a"], "MODEL:ALIAS"),
            (["intents", "--file", str(bad)], "line 2"),
            (["intents", "--file", str(tmp_path / "none.jsonl")], "none.jsonl"),
        ):
            result = cli("train", "predict", *args)
            assert result.exit_code == 2, (args, result.output)
            assert says in result.output, (args, result.output)
        assert api.requests == []

    def test_an_unknown_model_is_exit_1(self, api: FakeApi) -> None:
        api.error("POST", PREDICT, status=404, code="not_found")
        result = cli("train", "predict", "intents:production", "-t", "hello")
        assert result.exit_code == 1, result.output
