"""A tiny fake Raylane API for SDK and CLI unit tests (no server, no network).

Imported explicitly by ``test_client.py`` and ``test_cli.py``. Bodies are built through the
wire schemas, so a schema change that the SDK does not follow fails here first.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from raylane.schemas.apikeys import ApiKeyCreated, ApiKeyRead
from raylane.schemas.audit import AuditEventRead, AuditVerifyRead
from raylane.schemas.flags import FeatureFlagRead
from raylane.schemas.health import HealthRead
from raylane.schemas.projects import ProjectRead
from raylane.schemas.tenancy import MeRead, OrganizationRead, UserRead

BASE_URL = "http://api.test"
API_KEY = "rl_test_0123456789"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeApi:
    """Routes ``(METHOD, path)`` to canned answers and records every request it receives."""

    routes: dict[tuple[str, str], list[Handler]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        body: Any = None,
        headers: dict[str, str] | None = None,
        text: str | None = None,
    ) -> FakeApi:
        """Answer the next request for ``method path`` with this response (queued, in order)."""

        def answer(_: httpx.Request) -> httpx.Response:
            if text is not None:
                return httpx.Response(status, text=text, headers=headers)
            if body is None:
                return httpx.Response(status, headers=headers)
            return httpx.Response(status, json=body, headers=headers)

        return self.handle(method, path, answer)

    def error(
        self,
        method: str,
        path: str,
        *,
        status: int,
        code: str,
        detail: Any = "nope",
        headers: dict[str, str] | None = None,
    ) -> FakeApi:
        """Answer with the API's error envelope."""
        return self.on(
            method, path, status=status, body={"error": code, "detail": detail}, headers=headers
        )

    def handle(self, method: str, path: str, handler: Handler) -> FakeApi:
        self.routes.setdefault((method, path), []).append(handler)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.method, request.url.raw_path.split(b"?")[0].decode())
        queue = self.routes.get(key)
        if not queue:
            raise AssertionError(f"unexpected request {key[0]} {key[1]}")
        return _next(queue)(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def last(self) -> httpx.Request:
        assert self.requests, "no request was sent"
        return self.requests[-1]

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]


def _next(queue: list[Handler]) -> Handler:
    # Queued answers are used in order; the last one repeats for any further request.
    return queue.pop(0) if len(queue) > 1 else queue[0]


def json_body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def isolate_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No RAYLANE_* variable from the outer environment, and a fresh profile file path."""
    for name in ("RAYLANE_URL", "RAYLANE_API_KEY", "RAYLANE_PROFILE", "RAYLANE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "home" / ".raylane" / "config.toml"
    monkeypatch.setenv("RAYLANE_CONFIG", str(path))
    return path


def _wire(model: type[Any], data: dict[str, Any]) -> dict[str, Any]:
    """Validate against the schema, then dump as the server would send it."""
    return model.model_validate(data).model_dump(mode="json")


def org_json(**over: Any) -> dict[str, Any]:
    data = {
        "id": str(uuid.uuid4()),
        "name": "Acme",
        "slug": "acme",
        "region": "local",
        "created_at": NOW,
        "updated_at": NOW,
    }
    return _wire(OrganizationRead, data | over)


def me_json(**over: Any) -> dict[str, Any]:
    data = {
        "user_id": str(uuid.uuid4()),
        "email": "ada@acme.test",
        "name": "Ada",
        "organization": org_json(),
        "role": "owner",
        "permissions": ["project:read", "project:write"],
        "api_key_id": str(uuid.uuid4()),
        "is_platform_admin": False,
    }
    return _wire(MeRead, data | over)


def user_json(**over: Any) -> dict[str, Any]:
    data = {
        "id": str(uuid.uuid4()),
        "email": "bob@acme.test",
        "name": "Bob",
        "role": "developer",
        "is_active": True,
        "created_at": NOW,
    }
    return _wire(UserRead, data | over)


def key_json(*, secret: str | None = None, **over: Any) -> dict[str, Any]:
    data = {
        "id": str(uuid.uuid4()),
        "name": "ci",
        "prefix": "rl_abcd",
        "user_id": str(uuid.uuid4()),
        "scopes": ["*"],
        "expires_at": None,
        "revoked_at": None,
        "created_at": NOW,
    }
    if secret is not None:
        return _wire(ApiKeyCreated, data | over | {"secret": secret})
    return _wire(ApiKeyRead, data | over)


def project_json(**over: Any) -> dict[str, Any]:
    data = {
        "id": str(uuid.uuid4()),
        "name": "search",
        "description": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    return _wire(ProjectRead, data | over)


def flag_json(**over: Any) -> dict[str, Any]:
    data = {
        "key": "copilot.streaming",
        "enabled": True,
        "value": {"ratio": 0.25},
        "description": "stream tokens",
        "updated_at": NOW,
    }
    return _wire(FeatureFlagRead, data | over)


def event_json(seq: int, **over: Any) -> dict[str, Any]:
    data = {
        "id": str(uuid.uuid4()),
        "seq": seq,
        "actor_type": "user",
        "actor_id": str(uuid.uuid4()),
        "api_key_id": None,
        "action": "project.create",
        "target_type": "project",
        "target_id": str(uuid.uuid4()),
        "summary": {"name": "search"},
        "request_id": None,
        "ip": None,
        "created_at": NOW,
        "prev_hash": "0" * 64,
        "hash": f"{seq:064x}",
    }
    return _wire(AuditEventRead, data | over)


def verify_json(**over: Any) -> dict[str, Any]:
    return _wire(AuditVerifyRead, {"ok": True, "checked": 3} | over)


def health_json(status: str = "ok") -> dict[str, Any]:
    db = "up" if status == "ok" else "down"
    components = {
        "database": {"status": db, "latency_ms": 1.5, "detail": None},
        "redis": {"status": "up", "latency_ms": 0.4},
    }
    return _wire(HealthRead, {"status": status, "components": components})


def page(items: list[dict[str, Any]], next_cursor: str | None = None) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor}
