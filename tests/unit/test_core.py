"""Core logic without servers: settings, keys, RBAC, audit hashing, ids, error mapping."""

from __future__ import annotations

import itertools
import time
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from raylane import errors
from raylane.config import DEV_SECRET, Settings
from raylane.core.apikeys import tokens
from raylane.core.audit.models import AuditEvent
from raylane.core.audit.service import GENESIS, event_hash
from raylane.core.rbac import ROLE_PERMISSIONS, Permission, Role, effective_permissions, outranks
from raylane.infra.ids import uuid7
from raylane.serve.errors import STATUS


class TestSettings:
    @pytest.fixture(autouse=True)
    def _clean_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Session fixtures export RAYLANE_* for Ray workers; settings tests start from nothing.
        import os

        for key in [k for k in os.environ if k.startswith("RAYLANE_") or k == "RAY_ADDRESS"]:
            monkeypatch.delenv(key)

    def test_development_accepts_the_default_secret(self) -> None:
        assert Settings(env="development").secret_key.get_secret_value() == DEV_SECRET

    @pytest.mark.parametrize("secret", ["", DEV_SECRET, "short"])
    def test_other_envs_refuse_default_empty_or_short_secrets(self, secret: str) -> None:
        with pytest.raises(ValidationError, match="RAYLANE_SECRET_KEY"):
            Settings(env="production", secret_key=secret)

    def test_nested_env_and_external_urls(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("RAYLANE_API__PORT", "9999")
        monkeypatch.setenv("RAYLANE_REDIS_URL", "redis://cache:6379/0")
        monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
        s = Settings()
        assert s.api.port == 9999
        assert not s.embedded_redis and s.embedded_database
        assert s.ray.address == "ray://head:10001"

    def test_storage_defaults_under_the_data_dir(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        assert Settings(data_dir=tmp_path).storage_url == (tmp_path / "objects").as_uri()


class TestTokens:
    def test_roundtrip_and_tamper(self) -> None:
        prefix, token = tokens.new_token()
        assert token.startswith(f"rl_{prefix}_") and tokens.parse_prefix(token) == prefix
        h = tokens.hash_token(token, "s" * 40)
        assert tokens.matches(token, h, "s" * 40)
        assert not tokens.matches(token + "x", h, "s" * 40)
        assert not tokens.matches(token, h, "t" * 40)  # another server secret

    @pytest.mark.parametrize(
        "bad", ["", "rl_", "xx_abcdefabcdef_" + "a" * 40, "rl_short_" + "a" * 40]
    )
    def test_malformed_tokens_have_no_prefix(self, bad: str) -> None:
        assert tokens.parse_prefix(bad) is None


class TestRbac:
    def test_roles_are_nested(self) -> None:
        order = [Role.VIEWER, Role.DEVELOPER, Role.ADMIN, Role.OWNER]
        for low, high in itertools.pairwise(order):
            assert ROLE_PERMISSIONS[low] < ROLE_PERMISSIONS[high]
            assert outranks(high, low) and not outranks(low, high)

    def test_no_role_creates_organizations(self) -> None:
        assert all(Permission.ORG_CREATE not in p for p in ROLE_PERMISSIONS.values())
        assert Permission.ORG_CREATE in effective_permissions(Role.VIEWER, [], platform_admin=True)

    def test_scopes_narrow_never_widen(self) -> None:
        narrowed = effective_permissions(
            Role.VIEWER, ["project:read", "audit:read"], platform_admin=False
        )
        assert narrowed == {Permission.PROJECT_READ}
        assert (
            effective_permissions(Role.ADMIN, ["*"], platform_admin=False)
            == ROLE_PERMISSIONS[Role.ADMIN]
        )


def _event(**kw: object) -> AuditEvent:
    base = dict(
        organization_id=uuid.UUID(int=1),
        seq=1,
        actor_type="user",
        actor_id=uuid.UUID(int=2),
        api_key_id=None,
        action="project.create",
        target_type="project",
        target_id="p1",
        summary={"after": {"name": "a"}},
        request_id="r",
        ip="127.0.0.1",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        prev_hash=GENESIS,
    )
    return AuditEvent(**(base | kw))


class TestAuditHash:
    def test_hash_is_deterministic_and_covers_every_field(self) -> None:
        ref = event_hash(_event())
        assert ref == event_hash(_event())
        for change in [
            {"seq": 2},
            {"action": "project.delete"},
            {"summary": {"after": {"name": "b"}}},
            {"prev_hash": "1" * 64},
            {"ip": "10.0.0.1"},
            {"actor_id": uuid.UUID(int=3)},
            {"created_at": datetime(2026, 1, 2, tzinfo=UTC)},
            {"organization_id": uuid.UUID(int=9)},
        ]:
            assert event_hash(_event(**change)) != ref, change


def test_uuid7_is_time_ordered_and_versioned() -> None:
    ids = [uuid7() for _ in range(500)]
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert len(set(ids)) == 500
    stamps = [i.int >> 80 for i in ids]
    assert stamps == sorted(stamps)
    assert abs(stamps[0] - time.time_ns() // 1_000_000) < 5_000  # milliseconds, now


def test_uuid7_made_in_one_millisecond_sort_in_the_order_made() -> None:
    ids = [uuid7() for _ in range(5_000)]  # many per millisecond
    assert len({i.int >> 80 for i in ids}) < len(ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)


def test_every_domain_error_has_a_status() -> None:
    classes = errors.RaylaneError.__subclasses__()
    assert classes and all(cls in STATUS for cls in classes), set(classes) - set(STATUS)
    assert len({cls.code for cls in classes}) == len(classes)


def test_shipped_sample_docs_match_the_docs_folder() -> None:
    """The first-start demo ingests Raylane's own docs: the packaged copies must not go stale."""
    from pathlib import Path

    from raylane.core.bootstrap import sample_documents

    docs = Path(__file__).resolve().parents[2] / "docs"
    shipped = sample_documents()
    assert shipped and all((docs / name).read_bytes() == data for name, data in shipped)


@pytest.mark.parametrize(
    "error",
    [
        errors.NotFound("project", "p1"),
        errors.RateLimited("slow down", retry_after=3.5, limit=10, scope="key"),
        errors.GuardrailBlocked("blocked"),
    ],
)
def test_domain_errors_survive_pickling(error: errors.RaylaneError) -> None:
    """Errors cross Ray process boundaries (Serve replicas, actors) by pickle."""
    import pickle

    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and copy.detail == error.detail
    assert copy.__dict__ == error.__dict__ and str(copy) == str(error)
