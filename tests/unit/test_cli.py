"""CLI unit tests: every command runs against a fake API through the transport test hook."""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from raylane.cli import context
from raylane.cli.main import app
from raylane.client.config import load_config, save_profile
from tests.unit.fake_api import (
    API_KEY,
    BASE_URL,
    FakeApi,
    event_json,
    flag_json,
    health_json,
    isolate_env,
    json_body,
    key_json,
    me_json,
    org_json,
    page,
    project_json,
    user_json,
    verify_json,
)

PROJECTS = "/api/v1/projects"
CONN = ["--url", BASE_URL, "--api-key", API_KEY]


@pytest.fixture(autouse=True)
def config_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    context.set_transport_factory(fake.transport)
    yield fake
    context.set_transport_factory(None)


def run(*args: str, input: str | None = None, conn: bool = True):  # type: ignore[no-untyped-def]
    argv = [*CONN, *args] if conn else list(args)
    return CliRunner().invoke(app, argv, input=input, env={"COLUMNS": "200"})


class TestOutput:
    def test_list_json_pages_through_everything_and_parses_back(self, api: FakeApi) -> None:
        first = [project_json(name="a"), project_json(name="b")]
        api.on("GET", PROJECTS, body=page(first, "c1"))
        api.on("GET", PROJECTS, body=page([project_json(name="c")], None))

        result = run("projects", "list", "--output", "json")

        assert result.exit_code == 0, result.output
        items = json.loads(result.stdout)
        assert [p["name"] for p in items] == ["a", "b", "c"]
        assert items[0]["id"] == first[0]["id"]
        assert [r.url.params.get("cursor") for r in api.requests] == [None, "c1"]

    def test_limit_stops_fetching_once_it_has_enough(self, api: FakeApi) -> None:
        api.on("GET", "/api/v1/users", body=page([user_json(), user_json()], "c1"))
        result = run("users", "list", "--limit", "2", "-o", "json")
        assert result.exit_code == 0, result.output
        assert len(json.loads(result.stdout)) == 2
        assert len(api.requests) == 1
        assert api.last().url.params["limit"] == "2"

    def test_get_as_table_and_as_json(self, api: FakeApi) -> None:
        project = project_json(name="vector-search", description="[bold]kept as text[/]")
        api.on("GET", f"{PROJECTS}/{project['id']}", body=project)

        table = run("projects", "get", project["id"])
        as_json = run("projects", "get", project["id"], "-o", "json")

        assert table.exit_code == 0, table.output
        assert "vector-search" in table.stdout
        assert "[bold]kept as text[/]" in table.stdout
        assert json.loads(as_json.stdout) == project

    def test_empty_list_says_so_on_stderr(self, api: FakeApi) -> None:
        api.on("GET", "/api/v1/feature-flags", body=page([]))
        result = run("flags", "list")
        assert result.exit_code == 0
        assert result.stdout == ""
        assert "No flags." in result.stderr

    def test_me_prints_email_role_and_organization(self, api: FakeApi) -> None:
        api.on("GET", "/api/v1/me", body=me_json(email="ada@acme.test", role="admin"))
        result = run("me")
        assert result.exit_code == 0, result.output
        assert "ada@acme.test" in result.stdout
        assert "admin" in result.stdout
        assert "Acme (acme" in result.stdout


class TestErrors:
    def test_api_error_prints_code_and_detail_on_stderr_and_exits_1(self, api: FakeApi) -> None:
        api.error(
            "GET", f"{PROJECTS}/p1", status=404, code="not_found", detail="project p1 not found"
        )
        result = run("projects", "get", "p1", "-o", "json")
        assert result.exit_code == 1
        assert result.stderr.strip() == "error: not_found: project p1 not found"
        assert result.stdout == ""

    def test_rate_limited_error_mentions_retry_after(self, api: FakeApi) -> None:
        api.error(
            "GET",
            PROJECTS,
            status=429,
            code="rate_limited",
            detail="slow down",
            headers={"Retry-After": "3"},
        )
        result = run("projects", "list")
        assert result.exit_code == 1
        assert "error: rate_limited: slow down (retry after 3s)" in result.stderr

    def test_unauthenticated_without_a_key_hints_at_login(self, api: FakeApi) -> None:
        api.error("GET", "/api/v1/me", status=401, code="unauthenticated", detail="missing API key")
        result = run("--url", BASE_URL, "me", conn=False)
        assert result.exit_code == 1
        assert "error: unauthenticated: missing API key" in result.stderr
        assert "raylane login" in result.stderr

    def test_validation_errors_are_one_line(self, api: FakeApi) -> None:
        result = run("projects", "create", "--name", " ")
        assert result.exit_code == 1
        assert result.stderr.startswith("error: validation_error: name:")
        assert api.requests == []

    def test_error_details_cannot_inject_terminal_escapes(self, api: FakeApi) -> None:
        api.error("POST", PROJECTS, status=409, code="conflict", detail="name \x1b[2J taken")
        result = run("projects", "create", "--name", "x")
        assert result.exit_code == 1
        assert "\x1b" not in result.stderr
        assert "error: conflict: name  [2J taken" in result.stderr

    def test_unknown_profile_is_an_error(self, api: FakeApi) -> None:
        result = run("--profile", "nope", "me", conn=False)
        assert result.exit_code == 1
        assert "error: config_error: profile 'nope'" in result.stderr

    @pytest.mark.parametrize(
        "argv",
        [
            ["projects", "get"],
            ["projects", "list", "--output", "xml"],
            ["projects", "list", "--limit", "0"],
            ["projects", "update", "p1"],
            ["users", "create", "--email", "a@b.test", "--role", "god"],
            ["flags", "set", "k", "--enabled", "--value", "not json"],
            ["audit", "events", "--since", "yesterday"],
            ["no-such-command"],
        ],
    )
    def test_usage_errors_exit_2_without_calling_the_api(
        self, api: FakeApi, argv: list[str]
    ) -> None:
        result = run(*argv)
        assert result.exit_code == 2, result.output
        assert api.requests == []


class TestCommands:
    def test_create_project_sends_the_body(self, api: FakeApi) -> None:
        api.on("POST", PROJECTS, status=201, body=project_json(name="search"))
        result = run("projects", "create", "--name", "search", "--description", "d", "-o", "json")
        assert result.exit_code == 0, result.output
        assert json_body(api.last()) == {"name": "search", "description": "d"}
        assert json.loads(result.stdout)["name"] == "search"

    def test_update_sends_only_what_changes(self, api: FakeApi) -> None:
        api.on("PATCH", f"{PROJECTS}/p1", body=project_json())
        assert run("projects", "update", "p1", "--clear-description").exit_code == 0
        assert json_body(api.last()) == {"description": None}
        assert run("projects", "update", "p1", "--name", "n2").exit_code == 0
        assert json_body(api.last()) == {"name": "n2"}

    def test_users_update_role_and_active(self, api: FakeApi) -> None:
        api.on("PATCH", "/api/v1/users/u1", body=user_json(role="viewer", is_active=False))
        result = run("users", "update", "u1", "--role", "viewer", "--inactive")
        assert result.exit_code == 0, result.output
        assert json_body(api.last()) == {"role": "viewer", "is_active": False}

    def test_delete_asks_first_and_no_means_no_request(self, api: FakeApi) -> None:
        api.on("DELETE", f"{PROJECTS}/p1", status=204)
        declined = run("projects", "delete", "p1", input="n\n")
        assert declined.exit_code == 1
        assert api.requests == []
        accepted = run("projects", "delete", "p1", "--yes")
        assert accepted.exit_code == 0, accepted.output
        assert [r.method for r in api.requests] == ["DELETE"]

    def test_keys_create_shows_the_secret_once_with_a_warning(self, api: FakeApi) -> None:
        api.on("POST", "/api/v1/api-keys", status=201, body=key_json(secret="rl_s3cret"))
        result = run(
            "keys", "create", "--name", "ci", "--scope", "project:read", "--scope", "project:write"
        )
        assert result.exit_code == 0, result.output
        assert result.stdout.count("rl_s3cret") == 1
        assert "will not be shown again" in result.stderr
        assert json_body(api.last())["scopes"] == ["project:read", "project:write"]

    def test_keys_create_json_includes_the_secret(self, api: FakeApi) -> None:
        api.on("POST", "/api/v1/api-keys", status=201, body=key_json(secret="rl_s3cret"))
        result = run("keys", "create", "--name", "ci", "-o", "json")
        assert json.loads(result.stdout)["secret"] == "rl_s3cret"

    def test_orgs_create_prints_the_owner_key(self, api: FakeApi) -> None:
        created = {
            "organization": org_json(),
            "owner_user_id": str(uuid.uuid4()),
            "owner_api_key": "rl_owner",
        }
        api.on("POST", "/api/v1/organizations", status=201, body=created)
        result = run(
            "orgs", "create", "--name", "Acme", "--slug", "acme", "--owner-email", "owner@acme.io"
        )
        assert result.exit_code == 0, result.output
        assert "rl_owner" in result.stdout
        assert "will not be shown again" in result.stderr

    def test_flags_set_parses_the_json_value(self, api: FakeApi) -> None:
        api.on("PUT", "/api/v1/feature-flags/ab.ratio", body=flag_json(key="ab.ratio"))
        result = run("flags", "set", "ab.ratio", "--disabled", "--value", '{"ratio": 0.5}')
        assert result.exit_code == 0, result.output
        assert json_body(api.last()) == {
            "enabled": False,
            "value": {"ratio": 0.5},
            "description": None,
        }

    def test_audit_events_passes_filters(self, api: FakeApi) -> None:
        api.on("GET", "/api/v1/audit/events", body=page([event_json(2)]))
        result = run("audit", "events", "--action", "project.*", "--since", "1h", "-o", "json")
        assert result.exit_code == 0, result.output
        assert [e["seq"] for e in json.loads(result.stdout)] == [2]
        params = api.last().url.params
        assert params["action"] == "project.*"
        since = datetime.fromisoformat(params["since"])
        assert timedelta(minutes=59) < datetime.now(UTC) - since < timedelta(minutes=61)

    def test_health_degraded_exits_1(self, api: FakeApi) -> None:
        api.on("GET", "/api/health", status=503, body=health_json("degraded"))
        result = run("health")
        assert result.exit_code == 1
        assert "database" in result.stdout and "down" in result.stdout

    def test_health_ok_exits_0(self, api: FakeApi) -> None:
        api.on("GET", "/api/health", body=health_json("ok"))
        result = run("health", "-o", "json")
        assert result.exit_code == 0
        assert json.loads(result.stdout)["status"] == "ok"


class TestAuditVerify:
    def test_intact_chain_exits_0(self, api: FakeApi) -> None:
        api.on("GET", "/api/v1/audit/verify", body=verify_json(ok=True, checked=12))
        result = run("audit", "verify")
        assert result.exit_code == 0, result.output
        assert "12" in result.stdout

    def test_broken_chain_exits_1_and_names_the_first_broken_link(self, api: FakeApi) -> None:
        broken_id = str(uuid.uuid4())
        report = verify_json(
            ok=False,
            checked=5,
            first_broken_seq=4,
            first_broken_id=broken_id,
            reason="hash mismatch",
        )
        api.on("GET", "/api/v1/audit/verify", body=report)

        result = run("audit", "verify", "-o", "json")

        assert result.exit_code == 1
        assert json.loads(result.stdout)["first_broken_seq"] == 4
        assert f"seq 4 (event {broken_id}): hash mismatch" in result.stderr
        assert result.stderr.startswith("error: audit_chain_broken:")


class TestProfiles:
    def test_login_verifies_then_saves_a_private_profile(
        self, api: FakeApi, config_path: Path
    ) -> None:
        api.on("GET", "/api/v1/me", body=me_json(email="ada@acme.test"))
        result = run(
            "login", "--url", BASE_URL, "--api-key", "rl_login", "--profile", "dev", conn=False
        )
        assert result.exit_code == 0, result.output
        assert "ada@acme.test" in result.stdout
        assert api.last().headers["authorization"] == "Bearer rl_login"
        assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
        saved = load_config(config_path).profiles["dev"]
        assert (saved.url, saved.api_key) == (BASE_URL, "rl_login")

    def test_login_prompts_for_the_key(self, api: FakeApi, config_path: Path) -> None:
        api.on("GET", "/api/v1/me", body=me_json())
        result = run("login", "--url", BASE_URL, input="rl_typed\n", conn=False)
        assert result.exit_code == 0, result.output
        assert load_config(config_path).profiles["default"].api_key == "rl_typed"

    def test_login_with_a_bad_key_saves_nothing(self, api: FakeApi, config_path: Path) -> None:
        api.error("GET", "/api/v1/me", status=401, code="unauthenticated", detail="invalid API key")
        result = run("login", "--url", BASE_URL, "--api-key", "rl_bad", conn=False)
        assert result.exit_code == 1
        assert "error: unauthenticated: invalid API key" in result.stderr
        assert not config_path.exists()

    def test_commands_use_the_selected_profile(
        self, api: FakeApi, config_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        save_profile("a", url="http://a.test", api_key="rl_a", path=config_path)
        save_profile("b", url=BASE_URL, api_key="rl_b", path=config_path)
        api.on("GET", "/api/v1/me", body=me_json())

        assert run("--profile", "b", "me", conn=False).exit_code == 0
        assert (api.last().url.host, api.last().headers["authorization"]) == (
            "api.test",
            "Bearer rl_b",
        )

        monkeypatch.setenv("RAYLANE_API_KEY", "rl_env")
        assert run("--url", BASE_URL, "me", conn=False).exit_code == 0
        assert api.last().headers["authorization"] == "Bearer rl_env"
