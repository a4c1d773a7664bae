"""SDK unit tests against a fake API (httpx.MockTransport): requests, errors, pages, profiles."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from raylane.client import (
    APIConnectionError,
    AsyncClient,
    Client,
    ConfigError,
    Conflict,
    InternalError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    RaylaneError,
    ServiceUnavailable,
    Unauthenticated,
    ValidationError,
)
from raylane.client.config import DEFAULT_URL, load_config, resolve, save_profile
from raylane.schemas.projects import ProjectRead
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
    page,
    project_json,
    user_json,
)

PROJECTS = "/api/v1/projects"


@pytest.fixture(autouse=True)
def config_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def client(api: FakeApi) -> Client:
    return Client(BASE_URL, API_KEY, transport=api.transport())


class TestRequests:
    def test_me_sends_bearer_key_and_user_agent(self, api: FakeApi, client: Client) -> None:
        body = me_json(email="ada@acme.test")
        api.on("GET", "/api/v1/me", body=body)

        me = client.me()

        assert me.email == "ada@acme.test"
        assert str(me.user_id) == body["user_id"]
        request = api.last()
        assert request.url == httpx.URL(f"{BASE_URL}/api/v1/me")
        assert request.headers["authorization"] == f"Bearer {API_KEY}"
        assert request.headers["user-agent"].startswith("raylane-python/")

    def test_without_a_key_no_authorization_header_is_sent(self, api: FakeApi) -> None:
        api.on("GET", "/api/health", body=health_json())
        health = Client(BASE_URL, transport=api.transport()).health()
        assert health.status == "ok"
        assert "authorization" not in api.last().headers

    def test_create_sends_the_validated_body_and_parses_the_answer(
        self, api: FakeApi, client: Client
    ) -> None:
        api.on("POST", PROJECTS, status=201, body=project_json(name="search", description="d"))
        project = client.projects.create(name="  search ", description="d")
        assert isinstance(project, ProjectRead)
        assert project.name == "search"
        # Input models strip whitespace before the request leaves.
        assert json_body(api.last()) == {"name": "search", "description": "d"}

    def test_update_sends_only_the_fields_given(self, api: FakeApi, client: Client) -> None:
        pid = uuid.uuid4()
        api.on("PATCH", f"{PROJECTS}/{pid}", body=project_json(id=str(pid)))
        client.projects.update(pid, name="renamed")
        assert json_body(api.last()) == {"name": "renamed"}
        client.projects.update(pid, description=None)
        assert json_body(api.last()) == {"description": None}

    def test_user_update_and_remove(self, api: FakeApi, client: Client) -> None:
        uid = str(uuid.uuid4())
        api.on("PATCH", f"/api/v1/users/{uid}", body=user_json(id=uid, role="viewer"))
        api.on("DELETE", f"/api/v1/users/{uid}", status=204)
        assert client.users.update(uid, role="viewer", is_active=False).role == "viewer"
        assert json_body(api.last()) == {"role": "viewer", "is_active": False}
        client.users.remove(uid)
        assert api.last().method == "DELETE"

    def test_revoke_key_uses_delete_and_returns_the_revoked_key(
        self, api: FakeApi, client: Client
    ) -> None:
        kid = str(uuid.uuid4())
        api.on(
            "DELETE",
            f"/api/v1/api-keys/{kid}",
            body=key_json(id=kid, revoked_at="2026-01-03T00:00:00Z"),
        )
        revoked = client.api_keys.revoke(kid)
        assert revoked.revoked_at is not None

    def test_create_key_defaults_to_all_scopes_and_returns_the_secret(
        self, api: FakeApi, client: Client
    ) -> None:
        api.on("POST", "/api/v1/api-keys", status=201, body=key_json(secret="rl_secret"))
        created = client.api_keys.create(name="ci", expires_in_days=30)
        assert created.secret == "rl_secret"
        assert json_body(api.last()) == {
            "name": "ci",
            "scopes": ["*"],
            "expires_in_days": 30,
            "user_id": None,
        }

    def test_flag_set_is_a_put_on_the_key(self, api: FakeApi, client: Client) -> None:
        api.on("PUT", "/api/v1/feature-flags/copilot.streaming", body=flag_json())
        flag = client.feature_flags.set("copilot.streaming", enabled=True, value={"ratio": 0.25})
        assert flag.value == {"ratio": 0.25}
        assert json_body(api.last()) == {
            "enabled": True,
            "value": {"ratio": 0.25},
            "description": None,
        }

    def test_ids_are_percent_encoded_into_one_path_segment(
        self, api: FakeApi, client: Client
    ) -> None:
        api.error("GET", "/api/v1/feature-flags/..%2Fapi-keys", status=404, code="not_found")
        with pytest.raises(NotFound):
            client.feature_flags.get("../api-keys")
        assert api.last().url.raw_path == b"/api/v1/feature-flags/..%2Fapi-keys"

    def test_audit_filters_become_query_parameters(self, api: FakeApi, client: Client) -> None:
        api.on("GET", "/api/v1/audit/events", body=page([event_json(2), event_json(1)]))
        since = datetime(2026, 1, 1, tzinfo=UTC)
        events = client.audit.events(action="project.*", since=since, limit=10)
        assert [e.seq for e in events.items] == [2, 1]
        params = api.last().url.params
        assert params["action"] == "project.*"
        assert datetime.fromisoformat(params["since"]) == since
        assert params["limit"] == "10"
        assert "until" not in params and "actor_id" not in params

    def test_base_url_with_a_path_prefix_is_kept(self, api: FakeApi) -> None:
        api.on("GET", "/raylane/api/v1/me", body=me_json())
        Client(f"{BASE_URL}/raylane/", API_KEY, transport=api.transport()).me()
        assert api.last().url.path == "/raylane/api/v1/me"


ERROR_CASES = [
    ("not_found", 404, NotFound),
    ("conflict", 409, Conflict),
    ("validation_error", 422, ValidationError),
    ("payload_too_large", 413, PayloadTooLarge),
    ("unauthenticated", 401, Unauthenticated),
    ("permission_denied", 403, PermissionDenied),
    ("rate_limited", 429, RateLimited),
    ("service_unavailable", 503, ServiceUnavailable),
    ("internal_error", 500, InternalError),
]


class TestErrors:
    @pytest.mark.parametrize(("code", "status", "cls"), ERROR_CASES)
    def test_each_code_raises_its_class(
        self, api: FakeApi, client: Client, code: str, status: int, cls: type[RaylaneError]
    ) -> None:
        api.error("GET", f"{PROJECTS}/p1", status=status, code=code, detail=f"{code} happened")
        with pytest.raises(cls) as caught:
            client.projects.get("p1")
        assert type(caught.value) is cls
        assert caught.value.code == code
        assert caught.value.status == status
        assert caught.value.detail == f"{code} happened"
        assert str(caught.value) == f"{code}: {code} happened"

    def test_the_code_decides_not_the_status(self, api: FakeApi, client: Client) -> None:
        api.error("GET", f"{PROJECTS}/p1", status=400, code="conflict")
        with pytest.raises(Conflict) as caught:
            client.projects.get("p1")
        assert caught.value.status == 400

    def test_unknown_code_is_a_plain_raylane_error_carrying_the_code(
        self, api: FakeApi, client: Client
    ) -> None:
        api.error("GET", f"{PROJECTS}/p1", status=418, code="quota_exceeded", detail="too many")
        with pytest.raises(RaylaneError) as caught:
            client.projects.get("p1")
        assert type(caught.value) is RaylaneError
        assert (caught.value.code, caught.value.status) == ("quota_exceeded", 418)

    def test_rate_limited_parses_retry_after_and_limit_headers(
        self, api: FakeApi, client: Client
    ) -> None:
        headers = {"Retry-After": "2.5", "RateLimit-Limit": "100", "RateLimit-Remaining": "0"}
        api.error("GET", PROJECTS, status=429, code="rate_limited", headers=headers)
        with pytest.raises(RateLimited) as caught:
            client.projects.list()
        assert caught.value.retry_after == 2.5
        assert caught.value.limit == 100
        assert caught.value.remaining == 0

    def test_retry_after_as_an_http_date(self, api: FakeApi, client: Client) -> None:
        when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
        api.error("GET", PROJECTS, status=429, code="rate_limited", headers={"Retry-After": when})
        with pytest.raises(RateLimited) as caught:
            client.projects.list()
        assert caught.value.retry_after is not None
        assert 25 <= caught.value.retry_after <= 30

    def test_rate_limited_without_retry_after(self, api: FakeApi, client: Client) -> None:
        api.error("GET", PROJECTS, status=429, code="rate_limited")
        with pytest.raises(RateLimited) as caught:
            client.projects.list()
        assert caught.value.retry_after is None

    def test_field_errors_are_kept_and_summarised(self, api: FakeApi, client: Client) -> None:
        detail = [{"loc": ["body", "name"], "msg": "String should have at least 1 character"}]
        api.error("POST", PROJECTS, status=422, code="validation_error", detail=detail)
        with pytest.raises(ValidationError) as caught:
            client.projects.create(name="x")
        assert caught.value.detail == detail
        assert caught.value.message == "name: String should have at least 1 character"

    def test_bad_input_is_refused_before_sending(self, api: FakeApi, client: Client) -> None:
        with pytest.raises(ValidationError) as caught:
            client.projects.create(name="")
        assert caught.value.status is None
        assert "name" in caught.value.message
        assert api.requests == []

    @pytest.mark.parametrize(
        ("status", "cls", "code"),
        [(503, ServiceUnavailable, "service_unavailable"), (502, RaylaneError, "http_502")],
    )
    def test_answers_without_the_error_envelope_map_by_status(
        self, api: FakeApi, client: Client, status: int, cls: type[RaylaneError], code: str
    ) -> None:
        api.on("GET", "/api/v1/me", status=status, text="<html>Bad Gateway</html>")
        with pytest.raises(cls) as caught:
            client.me()
        assert caught.value.code == code
        assert "Bad Gateway" in caught.value.message

    def test_unreachable_server_is_a_connection_error(self, api: FakeApi, client: Client) -> None:
        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused", request=request)

        api.handle("GET", "/api/v1/me", refuse)
        with pytest.raises(APIConnectionError) as caught:
            client.me()
        assert caught.value.code == "connection_error"
        assert BASE_URL in caught.value.message

    def test_a_body_that_does_not_match_the_schema_is_reported(
        self, api: FakeApi, client: Client
    ) -> None:
        api.on("GET", f"{PROJECTS}/p1", body={"id": "not-a-uuid"})
        with pytest.raises(RaylaneError) as caught:
            client.projects.get("p1")
        assert caught.value.code == "invalid_response"

    def test_degraded_health_is_a_report_not_an_error(self, api: FakeApi, client: Client) -> None:
        api.on("GET", "/api/health", status=503, body=health_json("degraded"))
        report = client.health()
        assert report.status == "degraded"
        assert report.components["database"].status == "down"

    def test_503_without_a_health_report_raises(self, api: FakeApi, client: Client) -> None:
        api.error("GET", "/api/health", status=503, code="service_unavailable", detail="redis")
        with pytest.raises(ServiceUnavailable):
            client.health()


class TestPagination:
    def test_list_returns_one_page_with_its_cursor(self, api: FakeApi, client: Client) -> None:
        api.on("GET", PROJECTS, body=page([project_json()], next_cursor="c1"))
        first = client.projects.list(limit=1)
        assert len(first.items) == 1
        assert first.next_cursor == "c1"
        assert api.last().url.params["limit"] == "1"
        assert "cursor" not in api.last().url.params

    def test_iter_follows_next_cursor_to_the_end(self, api: FakeApi, client: Client) -> None:
        names = ["a", "b", "c", "d", "e"]
        api.on("GET", PROJECTS, body=page([project_json(name=n) for n in names[:2]], "c1"))
        api.on("GET", PROJECTS, body=page([project_json(name=n) for n in names[2:4]], "c2"))
        api.on("GET", PROJECTS, body=page([project_json(name=names[4])], None))

        got = [p.name for p in client.projects.iter(page_size=2)]

        assert got == names
        sent = [dict(r.url.params) for r in api.sent("GET", PROJECTS)]
        assert sent == [
            {"limit": "2"},
            {"limit": "2", "cursor": "c1"},
            {"limit": "2", "cursor": "c2"},
        ]

    def test_iter_is_lazy(self, api: FakeApi, client: Client) -> None:
        api.on("GET", "/api/v1/users", body=page([user_json(), user_json()], "c1"))
        first = next(client.users.iter())
        assert first.email == "bob@acme.test"
        assert len(api.requests) == 1

    def test_iter_events_keeps_filters_on_every_page(self, api: FakeApi, client: Client) -> None:
        path = "/api/v1/audit/events"
        api.on("GET", path, body=page([event_json(3)], "c1"))
        api.on("GET", path, body=page([event_json(2)], None))
        seqs = [e.seq for e in client.audit.iter_events(target_type="project", page_size=1)]
        assert seqs == [3, 2]
        assert all(r.url.params["target_type"] == "project" for r in api.requests)

    def test_a_cursor_that_does_not_advance_stops_with_an_error(
        self, api: FakeApi, client: Client
    ) -> None:
        api.on("GET", "/api/v1/api-keys", body=page([key_json()], "same"))
        with pytest.raises(RaylaneError) as caught:
            list(client.api_keys.iter())
        assert caught.value.code == "invalid_page"
        assert len(api.requests) == 2


class TestAsyncClient:
    async def test_async_me_and_errors(self, api: FakeApi) -> None:
        api.on("GET", "/api/v1/me", body=me_json(role="viewer"))
        api.error("GET", f"{PROJECTS}/p1", status=403, code="permission_denied")
        async with AsyncClient(BASE_URL, API_KEY, transport=api.transport()) as client:
            me = await client.me()
            with pytest.raises(PermissionDenied):
                await client.projects.get("p1")
        assert me.role == "viewer"
        assert api.requests[0].headers["authorization"] == f"Bearer {API_KEY}"

    async def test_async_iter_follows_next_cursor(self, api: FakeApi) -> None:
        api.on("GET", "/api/v1/feature-flags", body=page([flag_json(key="a")], "c1"))
        api.on("GET", "/api/v1/feature-flags", body=page([flag_json(key="b")], None))
        async with AsyncClient(BASE_URL, API_KEY, transport=api.transport()) as client:
            keys = [flag.key async for flag in client.feature_flags.iter(page_size=1)]
        assert keys == ["a", "b"]
        assert api.requests[1].url.params["cursor"] == "c1"

    async def test_async_methods_carry_the_sync_docstrings(self) -> None:
        assert AsyncClient.me.__doc__ == Client.me.__doc__
        assert "Raises:" in (AsyncClient.me.__doc__ or "")


class TestProfiles:
    def write(self, path: Path) -> None:
        save_profile("staging", url="http://staging.test", api_key="rl_staging", path=path)
        save_profile("prod", url="http://prod.test", api_key="rl_prod", path=path)

    def test_nothing_configured_means_the_local_runtime_without_a_key(self) -> None:
        resolved = resolve()
        assert (resolved.url, resolved.api_key, resolved.profile) == (DEFAULT_URL, None, None)

    def test_the_default_profile_applies_when_nothing_else_is_set(self, config_path: Path) -> None:
        self.write(config_path)  # the first saved profile became the default
        resolved = resolve()
        assert (resolved.url, resolved.api_key, resolved.profile) == (
            "http://staging.test",
            "rl_staging",
            "staging",
        )

    def test_env_profile_selects_and_env_values_override_the_profile(
        self, config_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.write(config_path)
        monkeypatch.setenv("RAYLANE_PROFILE", "prod")
        assert resolve().url == "http://prod.test"
        monkeypatch.setenv("RAYLANE_URL", "http://env.test")
        resolved = resolve()
        assert (resolved.url, resolved.api_key) == ("http://env.test", "rl_prod")
        monkeypatch.setenv("RAYLANE_API_KEY", "rl_env")
        assert resolve().api_key == "rl_env"

    def test_an_explicit_profile_wins_over_the_environment(
        self, config_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.write(config_path)
        monkeypatch.setenv("RAYLANE_URL", "http://env.test")
        monkeypatch.setenv("RAYLANE_API_KEY", "rl_env")
        resolved = resolve(profile="prod")
        assert (resolved.url, resolved.api_key) == ("http://prod.test", "rl_prod")

    def test_explicit_arguments_win_over_everything(
        self, config_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.write(config_path)
        monkeypatch.setenv("RAYLANE_URL", "http://env.test")
        resolved = resolve(url="http://arg.test", profile="prod")
        assert (resolved.url, resolved.api_key) == ("http://arg.test", "rl_prod")

    def test_a_missing_profile_is_a_config_error(
        self, config_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.write(config_path)
        with pytest.raises(ConfigError, match=r"'nope'.*known profiles: prod, staging"):
            resolve(profile="nope")
        monkeypatch.setenv("RAYLANE_PROFILE", "nope")
        with pytest.raises(ConfigError):
            resolve()

    def test_invalid_toml_is_a_config_error(self, config_path: Path) -> None:
        config_path.parent.mkdir(parents=True)
        config_path.write_text("[profiles.x\nurl = 1")
        with pytest.raises(ConfigError, match="not valid TOML"):
            resolve()

    def test_save_profile_is_private_and_keeps_other_profiles(self, config_path: Path) -> None:
        self.write(config_path)
        save_profile(
            "prod", url="http://prod2.test", api_key="rl_new", make_default=True, path=config_path
        )
        assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
        config = load_config(config_path)
        assert config.default_profile == "prod"
        assert config.profiles["prod"].url == "http://prod2.test"
        assert config.profiles["staging"].api_key == "rl_staging"

    def test_profile_names_are_checked(self, config_path: Path) -> None:
        with pytest.raises(ConfigError):
            save_profile("a b]", url=BASE_URL, api_key=None, path=config_path)

    def test_client_uses_the_resolved_url_and_key(
        self, config_path: Path, monkeypatch: pytest.MonkeyPatch, api: FakeApi
    ) -> None:
        self.write(config_path)
        monkeypatch.setenv("RAYLANE_URL", BASE_URL)
        api.on("GET", "/api/v1/me", body=me_json())
        client = Client(transport=api.transport())
        client.me()
        assert client.profile == "staging"
        assert api.last().url.host == "api.test"
        assert api.last().headers["authorization"] == "Bearer rl_staging"

    def test_a_malformed_url_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError):
            Client("ftp://example.test", API_KEY)


def test_the_sdk_does_not_import_the_server() -> None:
    code = (
        "import sys, raylane.client, raylane.client.resources.copilot; "
        "bad = [m for m in sys.modules if m == 'ray' or m.startswith(('ray.', 'sqlalchemy', "
        "'raylane.core', 'raylane.serve'))]; print(bad); sys.exit(1 if bad else 0)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAYLANE_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_naive_datetime_is_sent_as_utc_with_its_offset() -> None:
    # The API takes RFC 3339 date-times with an offset only; the SDK must not send a naive one.
    from raylane.client._http import clean_params

    sent = clean_params({"since": datetime(2026, 1, 2, 3, 4, 5)})["since"]
    assert sent == "2026-01-02T03:04:05+00:00"
