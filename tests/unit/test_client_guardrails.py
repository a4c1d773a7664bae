"""SDK and CLI unit tests for guardrail policies and checks, against a fake API."""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from raylane.cli import context
from raylane.cli.main import app
from raylane.client import AsyncClient, Client, NotFound, PermissionDenied, ValidationError
from raylane.client.resources.guardrails import AsyncGuardrails, Guardrails
from raylane.schemas.guardrails import (
    DETECTORS,
    GuardrailCheckResult,
    GuardrailEffectiveRead,
    GuardrailPolicyBody,
    GuardrailPolicyRead,
)
from tests.unit.fake_api import (
    API_KEY,
    BASE_URL,
    NOW,
    FakeApi,
    isolate_env,
    json_body,
)

ORG_POLICY = "/api/v1/guardrails/policy"
CHECK = "/api/v1/guardrails/check"
PROJECT = str(uuid.uuid4())
PROJECT_POLICY = f"/api/v1/projects/{PROJECT}/guardrails/policy"
PROJECT_EFFECTIVE = f"/api/v1/projects/{PROJECT}/guardrails/effective"
CONN = ["--url", BASE_URL, "--api-key", API_KEY]


def policy_json(policy: dict[str, Any], *, project_id: str | None = None) -> dict[str, Any]:
    data = {
        "scope": "organization" if project_id is None else "project",
        "project_id": project_id,
        "stored": bool(policy),
        "policy": policy,
        "updated_at": NOW if policy else None,
    }
    return GuardrailPolicyRead.model_validate(data).model_dump(mode="json")


def effective_json(project_id: str | None = None, **over: Any) -> dict[str, Any]:
    rule = {"enabled": True, "action": "redact", "stages": ["input", "context", "output"]}
    data = {
        "project_id": project_id,
        "policy": {
            "detectors": {name: rule for name in DETECTORS},
            "injection_threshold": 0.5,
            "denied_topics": {},
            "denied_keywords": [],
            "max_input_tokens": None,
            "max_output_tokens": None,
        }
        | over,
    }
    return GuardrailEffectiveRead.model_validate(data).model_dump(mode="json")


def result_json(text: str = "mail [EMAIL]", *, blocked: bool = False) -> dict[str, Any]:
    findings = [{"detector": "email", "action": "redact", "label": "email", "start": 5, "end": 20}]
    if blocked:
        findings.append({"detector": "injection", "action": "block", "score": 0.85})
    data = {
        "stage": "input",
        "verdict": "blocked" if blocked else "allowed",
        "text": text,
        "findings": findings,
        "injection_score": 0.85 if blocked else 0.0,
        "token_count": None,
        "blocked": blocked,
        "flagged": False,
    }
    return GuardrailCheckResult.model_validate(data).model_dump(mode="json")


@pytest.fixture(autouse=True)
def config_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def client(api: FakeApi) -> Client:
    return Client(BASE_URL, API_KEY, transport=api.transport())


class TestPolicies:
    def test_get_org_and_project_policy(self, api: FakeApi, client: Client) -> None:
        api.on("GET", ORG_POLICY, body=policy_json({"max_input_tokens": 10}))
        api.on("GET", PROJECT_POLICY, body=policy_json({}, project_id=PROJECT))

        org = client.guardrails.get_policy()
        project = client.guardrails.get_policy(PROJECT)

        assert org.stored and org.policy == {"max_input_tokens": 10}
        assert project.scope == "project" and not project.stored
        assert str(project.project_id) == PROJECT

    def test_set_sends_only_the_fields_given(self, api: FakeApi, client: Client) -> None:
        policy = {"detectors": {"email": {"action": "block"}}, "max_output_tokens": None}
        api.on("PUT", PROJECT_POLICY, body=policy_json(policy, project_id=PROJECT))

        stored = client.guardrails.set_policy(policy, project_id=PROJECT)

        # No defaults filled in: a project must inherit what it does not set.
        assert json_body(api.last()) == policy
        assert stored.policy == policy

    def test_set_accepts_a_policy_model(self, api: FakeApi, client: Client) -> None:
        api.on("PUT", ORG_POLICY, body=policy_json({"injection_threshold": 0.8}))
        client.guardrails.set_policy(GuardrailPolicyBody(injection_threshold=0.8))
        assert json_body(api.last()) == {"injection_threshold": 0.8}

    @pytest.mark.parametrize(
        "policy",
        [
            {"detectors": {"injection": {"action": "redact"}}},
            {"detectors": {"nope": {}}},
            {"detectors": {"email": {"stages": ["everywhere"]}}},
            {"injection_threshold": 1.5},
            {"max_input_tokens": 0},
            {"colour": "red"},
        ],
    )
    def test_invalid_policy_is_refused_before_sending(
        self, api: FakeApi, client: Client, policy: dict[str, Any]
    ) -> None:
        with pytest.raises(ValidationError) as err:
            client.guardrails.set_policy(policy)
        assert err.value.status is None
        assert api.requests == []

    def test_clear_project_policy(self, api: FakeApi, client: Client) -> None:
        api.on("DELETE", PROJECT_POLICY, status=204)
        assert client.guardrails.clear_project_policy(PROJECT) is None
        assert api.last().method == "DELETE"

    def test_effective_for_the_org_and_a_project(self, api: FakeApi, client: Client) -> None:
        api.on("GET", "/api/v1/guardrails/effective", body=effective_json())
        api.on("GET", PROJECT_EFFECTIVE, body=effective_json(PROJECT, max_input_tokens=50))

        assert client.guardrails.effective().project_id is None
        merged = client.guardrails.effective(PROJECT)

        assert merged.policy.max_input_tokens == 50
        assert merged.policy.detectors["email"].action == "redact"

    def test_errors_map_to_exceptions(self, api: FakeApi, client: Client) -> None:
        api.error("GET", PROJECT_POLICY, status=404, code="not_found")
        api.error("PUT", ORG_POLICY, status=403, code="permission_denied")
        with pytest.raises(NotFound):
            client.guardrails.get_policy(PROJECT)
        with pytest.raises(PermissionDenied):
            client.guardrails.set_policy({"injection_threshold": 0.9})

    def test_ids_are_path_encoded(self, api: FakeApi, client: Client) -> None:
        with pytest.raises(AssertionError, match="unexpected request"):
            client.guardrails.get_policy("../../guardrails/policy")
        assert b"..%2F..%2Fguardrails%2Fpolicy" in api.last().url.raw_path


class TestCheck:
    def test_sends_text_as_is_and_returns_the_verdict(self, api: FakeApi, client: Client) -> None:
        api.on("POST", CHECK, body=result_json())
        text = "  mail ada@example.com \n"

        result = client.guardrails.check(text)

        assert json_body(api.last()) == {"text": text, "stage": "input"}
        assert result.verdict == "allowed" and result.text == "mail [EMAIL]"
        assert result.findings[0].detector == "email"

    def test_blocked_is_a_result_not_an_error(self, api: FakeApi, client: Client) -> None:
        api.on("POST", CHECK, body=result_json(blocked=True))

        result = client.guardrails.check("x", stage="context", project_id=PROJECT)

        assert result.blocked and result.verdict == "blocked"
        assert json_body(api.last()) == {"text": "x", "stage": "context", "project_id": PROJECT}

    def test_too_long_or_bad_stage_is_refused_locally(self, api: FakeApi, client: Client) -> None:
        with pytest.raises(ValidationError):
            client.guardrails.check("x" * 100_001)
        with pytest.raises(ValidationError):
            client.guardrails.check("x", stage="retrieval")  # type: ignore[arg-type]
        assert api.requests == []


class TestAsync:
    async def test_async_mirrors_the_blocking_client(self, api: FakeApi) -> None:
        api.on("PUT", ORG_POLICY, body=policy_json({"max_input_tokens": 5}))
        api.on("POST", CHECK, body=result_json(blocked=True))
        api.on("DELETE", PROJECT_POLICY, status=204)
        api.on("GET", PROJECT_EFFECTIVE, body=effective_json(PROJECT))
        api.on("GET", PROJECT_POLICY, body=policy_json({}, project_id=PROJECT))

        async with AsyncClient(BASE_URL, API_KEY, transport=api.transport()) as aclient:
            stored = await aclient.guardrails.set_policy({"max_input_tokens": 5})
            result = await aclient.guardrails.check("x", project_id=PROJECT)
            await aclient.guardrails.clear_project_policy(PROJECT)
            merged = await aclient.guardrails.effective(PROJECT)
            project = await aclient.guardrails.get_policy(PROJECT)

        assert stored.policy == {"max_input_tokens": 5}
        assert result.blocked
        assert str(merged.project_id) == PROJECT
        assert not project.stored
        assert [r.method for r in api.requests] == ["PUT", "POST", "DELETE", "GET", "GET"]

    def test_same_methods_signatures_and_docs(self) -> None:
        for name in ("get_policy", "set_policy", "clear_project_policy", "effective", "check"):
            sync, aio = getattr(Guardrails, name), getattr(AsyncGuardrails, name)
            assert inspect.signature(sync) == inspect.signature(aio), name
            assert aio.__doc__ == sync.__doc__ and sync.__doc__


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_api() -> Iterator[FakeApi]:
    fake = FakeApi()
    context.set_transport_factory(fake.transport)
    yield fake
    context.set_transport_factory(None)


def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, [*CONN, *args], input=input, env={"COLUMNS": "200"})


class TestCli:
    def test_get_json_and_table(self, cli_api: FakeApi) -> None:
        cli_api.on("GET", PROJECT_POLICY, body=policy_json({}, project_id=PROJECT))
        cli_api.on("GET", ORG_POLICY, body=policy_json({"max_input_tokens": 7}))

        as_json = run("guardrails", "get", "--project", PROJECT, "-o", "json")
        inherited = run("guardrails", "get", "--project", PROJECT)
        table = run("guardrails", "get")

        assert as_json.exit_code == 0, as_json.output
        assert json.loads(as_json.stdout)["stored"] is False
        assert as_json.stderr == ""
        assert "inherits the organization's" in inherited.stderr
        assert table.exit_code == 0, table.output
        assert "max_input_tokens" in table.stdout and "organization" in table.stdout
        assert table.stderr == ""

    def test_get_effective_table_lists_every_detector(self, cli_api: FakeApi) -> None:
        cli_api.on("GET", PROJECT_EFFECTIVE, body=effective_json(PROJECT, max_input_tokens=50))
        result = run("guardrails", "get", "--project", PROJECT, "--effective")
        assert result.exit_code == 0, result.output
        for name in DETECTORS:
            assert name in result.stdout
        assert "max_input_tokens" in result.stdout and "50" in result.stdout

    def test_set_from_a_file(self, cli_api: FakeApi, tmp_path: Path) -> None:
        policy = {"detectors": {"email": {"action": "flag"}}}
        path = tmp_path / "policy.json"
        path.write_text(json.dumps(policy))
        cli_api.on("PUT", PROJECT_POLICY, body=policy_json(policy, project_id=PROJECT))

        result = run("guardrails", "set", str(path), "--project", PROJECT, "-o", "json")

        assert result.exit_code == 0, result.output
        assert json_body(cli_api.last()) == policy
        assert json.loads(result.stdout)["policy"] == policy

    def test_set_from_stdin_accepts_the_output_of_get(self, cli_api: FakeApi) -> None:
        got = policy_json({"injection_threshold": 0.7})
        cli_api.on("PUT", ORG_POLICY, body=got)
        result = run("guardrails", "set", "-", input=json.dumps(got))
        assert result.exit_code == 0, result.output
        assert json_body(cli_api.last()) == {"injection_threshold": 0.7}

    @pytest.mark.parametrize("content", ["{not json", "[1, 2]", '"policy"'])
    def test_set_rejects_what_is_not_a_json_object(self, cli_api: FakeApi, content: str) -> None:
        result = run("guardrails", "set", "-", input=content)
        assert result.exit_code == 2
        assert cli_api.requests == []

    def test_set_missing_file_is_a_usage_error(self, cli_api: FakeApi, tmp_path: Path) -> None:
        result = run("guardrails", "set", str(tmp_path / "nope.json"))
        assert result.exit_code == 2
        assert cli_api.requests == []

    def test_set_invalid_policy_exits_1_without_sending(self, cli_api: FakeApi) -> None:
        policy = json.dumps({"detectors": {"injection": {"action": "redact"}}})
        result = run("guardrails", "set", "-", input=policy)
        assert result.exit_code == 1
        assert "error: validation_error" in result.stderr
        assert cli_api.requests == []

    def test_clear_asks_first(self, cli_api: FakeApi) -> None:
        cli_api.on("DELETE", PROJECT_POLICY, status=204)
        declined = run("guardrails", "clear", "--project", PROJECT, input="n\n")
        assert declined.exit_code == 1 and cli_api.requests == []
        done = run("guardrails", "clear", "--project", PROJECT, "--yes")
        assert done.exit_code == 0, done.output
        assert [r.method for r in cli_api.requests] == ["DELETE"]

    def test_clear_needs_a_project(self, cli_api: FakeApi) -> None:
        assert run("guardrails", "clear", "--yes").exit_code == 2

    def test_check_allowed_exits_0(self, cli_api: FakeApi) -> None:
        cli_api.on("POST", CHECK, body=result_json())
        result = run("guardrails", "check", "mail ada@example.com")
        assert result.exit_code == 0, result.output
        assert "allowed" in result.stdout and "[EMAIL]" in result.stdout
        assert json_body(cli_api.last()) == {"text": "mail ada@example.com", "stage": "input"}

    def test_check_blocked_exits_1_with_json_on_stdout(self, cli_api: FakeApi) -> None:
        cli_api.on("POST", CHECK, body=result_json(blocked=True))
        args = ["check", "ignore it", "--stage", "context", "--project", PROJECT, "-o", "json"]
        result = run("guardrails", *args)
        assert result.exit_code == 1
        assert json.loads(result.stdout)["verdict"] == "blocked"
        body = json_body(cli_api.last())
        assert body == {"text": "ignore it", "stage": "context", "project_id": PROJECT}

    def test_check_reads_stdin_for_dash(self, cli_api: FakeApi) -> None:
        cli_api.on("POST", CHECK, body=result_json())
        result = run("guardrails", "check", "-", input="from a pipe\n")
        assert result.exit_code == 0, result.output
        assert json_body(cli_api.last())["text"] == "from a pipe\n"

    def test_check_blocked_table_exits_1(self, cli_api: FakeApi) -> None:
        cli_api.on("POST", CHECK, body=result_json(blocked=True))
        result = run("guardrails", "check", "x")
        assert result.exit_code == 1
        assert "blocked" in result.stdout and "injection" in result.stdout

    def test_bad_stage_is_a_usage_error(self, cli_api: FakeApi) -> None:
        assert run("guardrails", "check", "x", "--stage", "retrieval").exit_code == 2
        assert cli_api.requests == []
