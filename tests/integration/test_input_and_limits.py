"""Bad input gets a clear 4xx and writes nothing; rate limits are exact; health tells the truth."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from raylane.infra import embedded_redis, kv
from raylane.infra.ratelimit import Limit, RateLimiter
from raylane.serve.app import create_app
from tests.factories import Api, Tenant


async def _counts(api: Api, tenant: Tenant) -> tuple[int, int]:
    projects = (await api.as_(tenant).get("/api/v1/projects?limit=200")).json()["items"]
    events = (await api.as_(tenant).get("/api/v1/audit/events?limit=200")).json()["items"]
    return len(projects), len(events)


class TestBadInput:
    async def test_malformed_json_is_422_and_writes_nothing(self, api: Api, org_a: Tenant) -> None:
        before = await _counts(api, org_a)
        r = await api.as_(org_a).post(
            "/api/v1/projects",
            content=b'{"name": "x",',
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 422 and r.json()["error"] == "validation_error"
        assert await _counts(api, org_a) == before

    async def test_json_the_fast_parser_refuses_is_read_as_before(
        self, api: Api, org_a: Tenant
    ) -> None:
        # Bodies are parsed by pydantic-core; what it cannot read (here UTF-16, which JSON
        # allows) goes to the standard parser, so the API accepts what it always accepted.
        r = await api.as_(org_a).post(
            "/api/v1/projects",
            content='{"name": "utf16"}'.encode("utf-16"),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["name"] == "utf16"

    async def test_wrong_types_and_unknown_fields_are_422(self, api: Api, org_a: Tenant) -> None:
        before = await _counts(api, org_a)
        for body in [{"name": 123}, {"name": ["a"]}, {"name": "ok", "extra": 1}, {}, [1, 2]]:
            r = await api.as_(org_a).post("/api/v1/projects", json=body)
            assert r.status_code == 422, (body, r.text)
            assert isinstance(r.json()["detail"], list)
        assert await _counts(api, org_a) == before

    async def test_huge_body_is_413_and_writes_nothing(self, api: Api, org_a: Tenant) -> None:
        before = await _counts(api, org_a)
        big = {"name": "big", "description": "x" * 2_000_000}
        r = await api.as_(org_a).post("/api/v1/projects", json=big)
        assert r.status_code == 413 and r.json()["error"] == "payload_too_large"

        async def chunks():  # no Content-Length: the streamed body is counted
            for _ in range(40):
                yield b"x" * 65536

        r = await api.as_(org_a).post(
            "/api/v1/projects", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413
        assert await _counts(api, org_a) == before

    async def test_bad_ids_and_cursors(self, api: Api, org_a: Tenant) -> None:
        assert (await api.as_(org_a).get("/api/v1/projects/not-a-uuid")).status_code == 422
        assert (await api.as_(org_a).get("/api/v1/projects?cursor=zzz")).status_code == 422
        assert (await api.as_(org_a).get("/api/v1/projects?limit=0")).status_code == 422
        r = await api.as_(org_a).get("/api/v1/nowhere")
        assert r.status_code == 404 and r.json()["error"] == "not_found"


async def _collection(api: Api, tenant: Tenant) -> str:
    owner = api.as_(tenant)
    project = await owner.post("/api/v1/projects", json={"name": f"p-{secrets.token_hex(4)}"})
    r = await owner.post(f"/api/v1/projects/{project.json()['id']}/collections", json={"name": "c"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


DEEP = b"[" * 10_000 + b"]" * 10_000


class TestJsonLimits:
    """What the standard parser would accept or choke on, refused as a 422 in the usual shape."""

    async def test_nan_and_infinity_are_not_json(self, api: Api, org_a: Tenant) -> None:
        collection = await _collection(api, org_a)
        before = await _counts(api, org_a)
        for constant in (b"NaN", b"Infinity", b"-Infinity"):
            vector = b"[" + b", ".join([constant] + [b"0.1"] * 383) + b"]"
            r = await api.as_(org_a).post(
                f"/api/v1/collections/{collection}/search",
                content=b'{"top_k": 1, "vector": ' + vector + b"}",
                headers={"Content-Type": "application/json"},
            )
            assert r.status_code == 422, (constant, r.text)
            assert r.json()["error"] == "validation_error"
            r = await api.as_(org_a).post(
                "/api/v1/projects",
                content=b'{"name": "nan", "description": ' + constant + b"}",
                headers={"Content-Type": "application/json"},
            )
            assert r.status_code == 422 and r.json()["error"] == "validation_error"
        assert await _counts(api, org_a) == before

    async def test_deeply_nested_bodies_are_422(self, api: Api, org_a: Tenant) -> None:
        before = await _counts(api, org_a)
        for body in (b'{"name": "deep", "description": ' + DEEP + b"}", DEEP):
            r = await api.as_(org_a).post(
                "/api/v1/projects", content=body, headers={"Content-Type": "application/json"}
            )
            assert r.status_code == 422, r.text
            assert set(r.json()) >= {"error", "detail"}
        # The same through the other way in: UTF-16 goes to the standard parser.
        r = await api.as_(org_a).post(
            "/api/v1/projects",
            content=DEEP.decode().encode("utf-16"),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 422, r.text
        assert await _counts(api, org_a) == before

    async def test_deeply_nested_json_lines_and_metadata_are_422(
        self, api: Api, org_a: Tenant
    ) -> None:
        collection = await _collection(api, org_a)
        url = f"/api/v1/collections/{collection}/documents"
        line = b'{"text": "hello", "extra": ' + DEEP + b"}\n"
        r = await api.as_(org_a).post(
            url, files=[("files", ("deep.jsonl", line, "application/x-ndjson"))]
        )
        assert r.status_code == 422, r.text
        assert set(r.json()) >= {"error", "detail"} and r.json()["error"] == "validation_error"
        for metadata in (DEEP.decode(), '{"score": NaN}'):
            r = await api.as_(org_a).post(
                url,
                files=[("files", ("a.txt", b"some text", "text/plain"))],
                data={"metadata": metadata},
            )
            assert r.status_code == 422, r.text
            assert r.json()["error"] == "validation_error"
        listed = await api.as_(org_a).get(f"/api/v1/collections/{collection}/documents")
        assert listed.json()["items"] == []


SECRET = "postgresql://raylane:hunter2@db.internal:5432"


class TestNoExceptionText:
    """An unforeseen failure answers without its exception's text (it can name hosts, buckets,
    credentials), with the request id that finds it in the logs."""

    async def test_an_unexpected_error_in_a_dependency_is_a_bare_500(
        self, api: Api, org_a: Tenant, app: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def broken(*_: Any, **__: Any) -> Any:
            raise RuntimeError(f"could not connect to {SECRET}")

        monkeypatch.setattr(app.state.platform.gate, "admit", broken)
        r = await api.as_(org_a).get("/api/v1/projects", headers={"X-Request-ID": "trace-500"})
        assert r.status_code == 500
        assert SECRET not in r.text and "hunter2" not in r.text
        assert r.json() == {
            "error": "internal_error",
            "detail": "internal error",
            "request_id": "trace-500",
        }

    async def test_an_unexpected_error_mid_stream_is_reported_without_its_text(
        self, api: Api, org_a: Tenant, app: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def failing(actor: Any, request: Any) -> AsyncIterator[dict[str, Any]]:
            yield {"type": "token", "text": "Hi"}
            raise RuntimeError(f"upstream said: {SECRET}")

        monkeypatch.setattr(app.state.platform.copilot, "chat", failing)
        project = await api.as_(org_a).post("/api/v1/projects", json={"name": "streamed"})
        r = await api.as_(org_a).post(
            f"/api/v1/projects/{project.json()['id']}/copilot/chat",
            json={"messages": [{"role": "user", "content": "hi"}], "stream": True},
            headers={"X-Request-ID": "trace-sse"},
        )
        assert r.status_code == 200
        assert "event: error" in r.text and "hunter2" not in r.text
        error = json.loads(r.text.split("event: error\ndata: ", 1)[1].split("\n", 1)[0])
        assert error["error"] == "internal_error" and error["request_id"] == "trace-sse"


class TestPagination:
    async def test_cursor_pages_cover_everything_once_and_limit_is_capped(
        self, api: Api, org_a: Tenant
    ) -> None:
        names = {f"page-{i}" for i in range(7)}
        for n in names:
            assert (
                await api.as_(org_a).post("/api/v1/projects", json={"name": n})
            ).status_code == 201
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
            page = (await api.as_(org_a).get("/api/v1/projects", params=params)).json()
            assert len(page["items"]) <= 3
            seen += [p["name"] for p in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(names)
        r = await api.as_(org_a).get("/api/v1/projects", params={"limit": 10_000})
        assert r.status_code == 200


class TestRateLimits:
    async def test_limiter_race_admits_exactly_the_burst(self, services) -> None:  # type: ignore[no-untyped-def]
        limiter = RateLimiter(kv.async_client(kv.redis_url(services)))
        key = f"race-{secrets.token_hex(4)}"
        limit, n = 10, 60

        async def one() -> bool:
            try:
                await limiter.admit(Limit(key, per_minute=1, burst=limit))
                return True
            except Exception:
                return False

        results = await asyncio.gather(*(one() for _ in range(n)))
        assert sum(results) == limit

    async def test_http_race_exactly_l_succeed_with_headers(
        self, services, api: Api, org_a: Tenant
    ) -> None:  # type: ignore[no-untyped-def]
        limit, n = 5, 25
        tight = services.model_copy(
            update={
                "rate_limit": services.rate_limit.model_copy(
                    update={"key_per_minute": 1, "key_burst": limit}
                )
            }
        )
        app = create_app(tight)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                rs = await asyncio.gather(
                    *(Api(http).as_(org_a).get("/api/v1/me") for _ in range(n))
                )
        ok = [r for r in rs if r.status_code == 200]
        limited = [r for r in rs if r.status_code == 429]
        assert len(ok) == limit and len(limited) == n - limit
        assert all(int(r.headers["Retry-After"]) >= 1 for r in limited)
        assert limited[0].json()["error"] == "rate_limited"
        assert all("RateLimit-Remaining" in r.headers for r in ok)


class TestHealth:
    async def test_stopped_redis_is_reported_down_and_limits_fail_closed(
        self, services, api: Api, org_a: Tenant
    ) -> None:  # type: ignore[no-untyped-def]
        other = Path(tempfile.mkdtemp(prefix="rl-redis-", dir="/tmp"))
        url = embedded_redis.start_embedded(other)
        app = create_app(services.model_copy(update={"redis_url": url}))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                up = (await http.get("/api/health")).json()
                assert up["components"]["redis"]["status"] == "up"
                assert up["components"]["database"]["status"] == "up"
                embedded_redis.stop_embedded(other)
                r = await http.get("/api/health")
                assert r.status_code == 503
                body = r.json()
                assert body["components"]["redis"]["status"] == "down"
                assert body["components"]["database"]["status"] == "up"
                assert body["components"]["redis"]["latency_ms"] >= 0
                me = await http.get(
                    "/api/v1/me", headers={"Authorization": f"Bearer {org_a.token}"}
                )
                assert me.status_code == 503 and me.json()["error"] == "service_unavailable"
        shutil.rmtree(other, ignore_errors=True)

    async def test_metrics_count_requests_by_route(self, api: Api, org_a: Tenant) -> None:
        await api.as_(org_a).get("/api/v1/projects")
        text = (await api.http.get("/metrics")).text
        assert 'raylane_http_requests_total{method="GET",organization="' in text
        assert 'route="/api/v1/projects"' in text
        assert "raylane_http_request_duration_seconds_bucket" in text
