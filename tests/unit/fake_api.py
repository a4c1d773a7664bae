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
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import httpx
import pytest

from raylane.schemas.api_keys import ApiKeyCreated, ApiKeyRead
from raylane.schemas.audit import AuditEventRead, AuditVerifyRead
from raylane.schemas.collections import (
    CollectionRead,
    DocumentRead,
    DocumentUploaded,
    SearchHit,
    SearchResults,
)
from raylane.schemas.flags import FeatureFlagRead
from raylane.schemas.health import HealthRead
from raylane.schemas.projects import ProjectRead
from raylane.schemas.runs import RunLogs, RunRead
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


@dataclass(frozen=True)
class Part:
    """One part of a multipart body."""

    name: str | None
    filename: str | None
    content_type: str | None
    content: bytes


def multipart_parts(request: httpx.Request) -> list[Part]:
    """The parts of a ``multipart/form-data`` request, parsed as a server would."""
    content_type = request.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary="), content_type
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.read())
    parts: list[Part] = []
    for part in message.iter_parts():
        assert isinstance(part, Message)
        payload = part.get_payload(decode=True)
        parts.append(
            Part(
                name=part.get_param("name", header="content-disposition"),  # type: ignore[arg-type]
                filename=part.get_filename(),
                content_type=part.get("content-type"),
                content=payload if isinstance(payload, bytes) else b"",
            )
        )
    return parts


def collection_json(**over: Any) -> dict[str, Any]:
    data = {
        "id": str(uuid.uuid4()),
        "project_id": str(uuid.uuid4()),
        "name": "handbook",
        "embedding_model": "bge-small",
        "dimensions": 384,
        "chunk_max_tokens": 256,
        "chunk_overlap": 32,
        "metadata_schema": {"team": "string", "year": "integer", "draft": "boolean"},
        "max_documents": 1000,
        "max_document_bytes": 1_000_000,
        "region": "local",
        "created_at": NOW,
    }
    return _wire(CollectionRead, data | over)


def _document(**over: Any) -> DocumentRead:
    data = {
        "id": str(uuid.uuid4()),
        "collection_id": str(uuid.uuid4()),
        "name": "intro.md",
        "size": 120,
        "content_hash": "ab" * 32,
        "mime": "text/markdown",
        "metadata_": over.pop("metadata", {"team": "hr"}),  # the ORM attribute's name
        "status": "pending",
        "chunk_count": 0,
        "error": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    return DocumentRead.model_validate(data | over)


def document_json(**over: Any) -> dict[str, Any]:
    """A document as the server sends it (``metadata``, not ``metadata_``)."""
    return _document(**over).model_dump(mode="json")


def uploaded_json(created: bool = True, **over: Any) -> dict[str, Any]:
    return _wire(DocumentUploaded, {"document": _document(**over), "created": created})


def run_json(status: str = "running", **over: Any) -> dict[str, Any]:
    data = {
        "id": str(uuid.uuid4()),
        "project_id": str(uuid.uuid4()),
        "kind": "ingest",
        "target_id": str(uuid.uuid4()),
        "status": status,
        "attempts": 1,
        "max_attempts": 3,
        "ray_job_id": None,
        "progress": {},
        "result": {},
        "error": None,
        "created_at": NOW,
        "started_at": None,
        "finished_at": None,
        "next_attempt_at": None,
    }
    return _wire(RunRead, data | over)


def progress(docs: tuple[int, int], chunks: tuple[int, int]) -> dict[str, Any]:
    """A run's progress dict: ``(done, total)`` of documents and of chunks."""
    return {
        "documents_done": docs[0],
        "documents_total": docs[1],
        "chunks_done": chunks[0],
        "chunks_total": chunks[1],
        "updated_at": NOW.isoformat(),
    }


def logs_json(run_id: str, logs: str = "ingest started\n") -> dict[str, Any]:
    return _wire(RunLogs, {"run_id": run_id, "ray_job_id": "raysubmit_1", "logs": logs})


def hit_json(**over: Any) -> dict[str, Any]:
    data = {
        "chunk_id": str(uuid.uuid4()),
        "document_id": str(uuid.uuid4()),
        "document_name": "leave.md",
        "chunk_index": 3,
        "text": "Parental leave is sixteen weeks.",
        "score": 0.8123,
        "metadata": {"team": "hr"},
    }
    return _wire(SearchHit, data | over)


def search_json(
    collection_id: str, hits: list[dict[str, Any]], mode: str = "vector"
) -> dict[str, Any]:
    return _wire(SearchResults, {"collection_id": collection_id, "mode": mode, "hits": hits})
