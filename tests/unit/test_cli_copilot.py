"""CLI unit tests for ``raylane chat``, ``raylane conversations`` and ``raylane usage``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from raylane.cli import context
from raylane.cli.main import app
from tests.unit.fake_api import (
    API_KEY,
    BASE_URL,
    NOW,
    FakeApi,
    isolate_env,
    json_body,
    page,
    project_json,
)
from tests.unit.test_client_copilot import (
    CHAT,
    CONV,
    CONVERSATIONS,
    MSG,
    PID,
    answer_events,
    answer_json,
    citation,
    conversation_json,
    sse,
    stream_response,
    usage_body,
    usage_json,
)

CONN = ["--url", BASE_URL, "--api-key", API_KEY]
PROJECTS = "/api/v1/projects"
DONE = sse("done", finish_reason="stop", message_id=MSG, usage=usage_body())


@pytest.fixture(autouse=True)
def config_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    context.set_transport_factory(fake.transport)
    yield fake
    context.set_transport_factory(None)


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, [*CONN, *args], env={"COLUMNS": "200"})


def streamed(api: FakeApi, body: bytes) -> None:
    api.handle("POST", CHAT, lambda _: stream_response(body, size=5))


class TestChat:
    def test_streams_the_answer_then_the_citations(self, api: FakeApi) -> None:
        streamed(api, answer_events("Sixteen", " weeks", " [1]."))

        result = run("chat", "How long is parental leave?", "--project", PID)

        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert lines[0] == "Sixteen weeks [1]."
        table = "\n".join(lines[1:])
        assert "[1]" in table and "leave.md" in table and "0.812" in table
        assert "[2]" in table and "faq.md" in table
        assert f"raylane chat --conversation {CONV}" in result.stderr
        data = json_body(api.last())
        assert data["stream"] is True and data["top_k"] == 4
        assert data["messages"] == [{"role": "user", "content": "How long is parental leave?"}]

    def test_options_reach_the_request(self, api: FakeApi) -> None:
        streamed(api, answer_events("ok"))
        result = run(
            "chat",
            "And then?",
            "--project",
            PID,
            "--conversation",
            CONV,
            "--max-tokens",
            "64",
            "--top-k",
            "8",
        )
        assert result.exit_code == 0, result.output
        data = json_body(api.last())
        assert (data["conversation_id"], data["max_tokens"], data["top_k"]) == (CONV, 64, 8)

    def test_no_stream_prints_the_whole_answer(self, api: FakeApi) -> None:
        api.on("POST", CHAT, body=answer_json())
        result = run("chat", "q", "--project", PID, "--no-stream")
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[0] == "Sixteen weeks [1]."
        assert "leave.md" in result.stdout
        assert json_body(api.last())["stream"] is False

    def test_json_output_is_the_answer(self, api: FakeApi) -> None:
        answer = answer_json()
        api.on("POST", CHAT, body=answer)
        result = run("chat", "q", "--project", PID, "-o", "json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == answer

    def test_no_citations_is_said_on_stderr(self, api: FakeApi) -> None:
        body = sse("citations", citations=[]) + sse("token", text="I do not know.") + DONE
        streamed(api, body)
        result = run("chat", "q", "--project", PID)
        assert result.exit_code == 0, result.output
        assert result.stdout == "I do not know.\n"
        assert "No passages found" in result.stderr

    def test_control_characters_from_the_model_are_not_printed(self, api: FakeApi) -> None:
        body = sse("citations", citations=[]) + sse("token", text="ok\x1b]0;pwned\x07\n") + DONE
        streamed(api, body)
        result = run("chat", "q", "--project", PID)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.stdout and result.stdout.startswith("ok ]0;pwned")


class TestDefaultProject:
    def test_uses_the_project_named_demo(self, api: FakeApi) -> None:
        demo = project_json(id=PID, name="demo")
        api.on("GET", PROJECTS, body=page([project_json(name="other")], "c1"))
        api.on("GET", PROJECTS, body=page([demo]))
        streamed(api, answer_events("ok"))

        result = run("chat", "q")

        assert result.exit_code == 0, result.output
        assert api.last().url.path == CHAT
        assert [r.url.params.get("cursor") for r in api.sent("GET", PROJECTS)] == [None, "c1"]

    def test_without_demo_exits_2_and_sends_no_question(self, api: FakeApi) -> None:
        api.on("GET", PROJECTS, body=page([project_json(name="other")]))
        result = run("chat", "q")
        assert result.exit_code == 2
        assert 'no project named "demo"' in result.stderr and "--project" in result.stderr
        assert api.sent("POST", CHAT) == []

    def test_conversations_list_uses_it_too(self, api: FakeApi) -> None:
        api.on("GET", PROJECTS, body=page([project_json(id=PID, name="demo")]))
        api.on("GET", CONVERSATIONS, body=page([conversation_json()]))
        result = run("conversations", "list", "-o", "json")
        assert result.exit_code == 0, result.output
        assert [c["id"] for c in json.loads(result.stdout)] == [CONV]


class TestChatErrors:
    def test_blocked_question_exits_1(self, api: FakeApi) -> None:
        detail = "blocked by guardrails at the input stage (email)"
        api.error("POST", CHAT, status=422, code="guardrail_blocked", detail=detail)
        result = run("chat", "mail ada@example.com", "--project", PID)
        assert result.exit_code == 1
        assert f"error: guardrail_blocked: {detail}" in result.stderr
        assert result.stdout == ""

    def test_blocked_mid_answer_ends_the_line_then_exits_1(self, api: FakeApi) -> None:
        body = answer_events("Write to ada").replace(
            DONE,
            sse("blocked", stage="output", detectors=["email"], detail="blocked by guardrails"),
        )
        streamed(api, body)
        result = run("chat", "q", "--project", PID)
        assert result.exit_code == 1
        assert result.stdout == "Write to ada\n"  # what was already shown, then a clean line
        assert "error: guardrail_blocked: blocked by guardrails (email)" in result.stderr

    def test_blocked_streamed_question_exits_1(self, api: FakeApi) -> None:
        streamed(api, sse("blocked", stage="input", detectors=["secret"], detail="blocked"))
        result = run("chat", "q", "--project", PID)
        assert result.exit_code == 1
        assert "error: guardrail_blocked: blocked (secret)" in result.stderr

    def test_error_event_exits_1(self, api: FakeApi) -> None:
        body = answer_events("Six").replace(
            DONE, sse("error", error="service_unavailable", detail="LLM endpoint unavailable")
        )
        streamed(api, body)
        result = run("chat", "q", "--project", PID)
        assert result.exit_code == 1
        assert "error: service_unavailable: LLM endpoint unavailable" in result.stderr

    def test_quota_exits_1_with_the_wait(self, api: FakeApi) -> None:
        api.error(
            "POST",
            CHAT,
            status=429,
            code="rate_limited",
            detail="daily token quota used up",
            headers={"Retry-After": "120"},
        )
        result = run("chat", "q", "--project", PID)
        assert result.exit_code == 1
        assert "error: rate_limited: daily token quota used up (retry after 120s)" in result.stderr

    def test_unknown_project_exits_1(self, api: FakeApi) -> None:
        api.error("POST", CHAT, status=404, code="not_found", detail="project not found")
        result = run("chat", "q", "--project", PID)
        assert result.exit_code == 1
        assert "error: not_found: project not found" in result.stderr

    def test_bad_top_k_is_a_usage_error(self, api: FakeApi) -> None:
        result = run("chat", "q", "--project", PID, "--top-k", "0")
        assert result.exit_code == 2
        assert api.requests == []


class TestConversations:
    def test_list_as_table(self, api: FakeApi) -> None:
        api.on("GET", CONVERSATIONS, body=page([conversation_json()]))
        result = run("conversations", "list", "--project", PID)
        assert result.exit_code == 0, result.output
        assert CONV in result.stdout and "How long is parental leave?" in result.stdout

    def test_get_shows_messages_and_citations(self, api: FakeApi) -> None:
        messages = [
            {"id": str(uuid.uuid4()), "role": "user", "content": "Leave?", "created_at": NOW},
            {
                "id": MSG,
                "role": "assistant",
                "content": "Sixteen weeks [1].",
                "citations": [citation()],
                "created_at": NOW,
            },
        ]
        body = conversation_json(messages=messages)
        api.on("GET", f"/api/v1/conversations/{CONV}", body=body)

        table = run("conversations", "get", CONV)
        assert table.exit_code == 0, table.output
        assert "Sixteen weeks [1]." in table.stdout and "[1] leave.md#3" in table.stdout

        as_json = run("conversations", "get", CONV, "--output", "json")
        assert as_json.exit_code == 0, as_json.output
        assert json.loads(as_json.stdout) == body

    def test_get_missing_exits_1(self, api: FakeApi) -> None:
        api.error("GET", f"/api/v1/conversations/{CONV}", status=404, code="not_found")
        result = run("conversations", "get", CONV)
        assert result.exit_code == 1 and "error: not_found" in result.stderr


class TestUsage:
    def test_table_shows_today_against_the_quota_and_each_day(self, api: FakeApi) -> None:
        api.on("GET", "/api/v1/usage", body=usage_json())
        result = run("usage")
        assert result.exit_code == 0, result.output
        assert "Today: 1,290 of 2,000,000 tokens" in result.stdout
        assert "2026-01-02" in result.stdout and "1,200" in result.stdout
        assert api.last().url.params["days"] == "7"

    def test_json_prints_the_report_for_the_days_asked(self, api: FakeApi) -> None:
        api.on("GET", "/api/v1/usage", body=usage_json())
        result = run("usage", "--days", "30", "--output", "json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == usage_json()
        assert api.last().url.params["days"] == "30"
