"""Slow chats hold no database connection, and each organization has a cap on chats in flight.

Real app, Postgres and Redis; the model is a scripted stand-in implementing the LLM interface
(the LLM is the external dependency: a real one cannot be made to stall on cue).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from raylane.config import CopilotSettings, QuotaSettings, Settings
from raylane.core.guardrails.policy import approx_token_count
from raylane.core.quotas.slots import ChatSlots
from raylane.infra.kv import async_client, redis_url
from raylane.infra.llm.base import Delta, GenerationParams, Usage
from raylane.serve.app import create_app
from raylane.serve.copilot import LocalCopilot
from raylane.serve.platform import Platform
from tests.factories import Tenant


class ScriptedLLM:
    """An LLM backend whose streams wait on ``gate`` before their first token, then yield
    ``tokens`` one at a time (waiting on ``between`` before each later one, if given)."""

    model_name = "scripted"

    def __init__(
        self,
        tokens: tuple[str, ...] = ("Hello", " there", "."),
        *,
        gate: asyncio.Event | None = None,
        between: asyncio.Event | None = None,
    ) -> None:
        self.tokens, self.gate, self.between = tokens, gate, between
        self.started = 0
        self.seen: list[list[dict[str, str]]] = []

    def count_tokens(self, text: str) -> int:
        return approx_token_count(text)

    async def stream(
        self, messages: list[dict[str, str]], params: GenerationParams
    ) -> AsyncIterator[Delta]:
        self.started += 1
        self.seen.append(messages)
        if self.gate is not None:
            await self.gate.wait()
        sent = 0
        for token in self.tokens[: params.max_tokens]:
            if sent and self.between is not None:
                await self.between.wait()
            sent += 1
            yield Delta(token)
        prompt = sum(approx_token_count(m["content"]) for m in messages)
        yield Delta("", finish_reason="stop", usage=Usage(prompt, sent))


@asynccontextmanager
async def stub_app(
    settings: Settings, llm: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Platform]]:
    """The real app with ``llm`` as its model."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        platform: Platform = app.state.platform
        platform.copilot = LocalCopilot(
            settings, platform.db, platform.embed, platform.quota, backend=llm
        )
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=60) as http:
            yield http, platform


def auth(tenant: Tenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.token}"}


async def until(condition: Callable[[], bool], *, timeout: float = 20.0) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


class TestSlowChats:
    async def test_slow_chats_hold_no_connection_and_the_cap_answers_429(
        self, services: Settings, org_a: Tenant, org_b: Tenant
    ) -> None:
        settings = services.model_copy(
            update={
                "database_pool_size": 5,  # 5 + 5 overflow: 10 connections in all
                "copilot": CopilotSettings(max_concurrent_per_org=12),
                "quotas": QuotaSettings(daily_tokens=0),
            }
        )
        llm = ScriptedLLM(gate=asyncio.Event())
        async with stub_app(settings, llm) as (http, platform):
            r = await http.post("/api/v1/projects", json={"name": "slow"}, headers=auth(org_a))
            project = r.json()["id"]

            async def chat(i: int) -> httpx.Response:
                question = {"role": "user", "content": f"question {i}"}
                if i % 3 == 0:  # the OpenAI-compatible route too
                    body = {"model": "scripted", "messages": [question], "stream": i % 2 == 0}
                    return await http.post("/v1/chat/completions", json=body, headers=auth(org_a))
                return await http.post(
                    f"/api/v1/projects/{project}/copilot/chat",
                    json={"messages": [question], "stream": i % 2 == 0},
                    headers=auth(org_a),
                )

            tasks = [asyncio.create_task(chat(i)) for i in range(30)]
            # 12 chats reach the model (more than the pool's 10 connections); 18 are refused.
            await until(lambda: llm.started == 12 and sum(t.done() for t in tasks) == 18)
            refused = [t.result() for t in tasks if t.done()]
            assert all(r.status_code == 429 for r in refused), [r.text for r in refused]
            assert all(r.json()["error"] == "rate_limited" for r in refused)
            assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
            assert platform.db.engine.pool.checkedout() == 0  # nothing held while models run

            start = time.monotonic()
            listed = await asyncio.wait_for(
                http.get("/api/v1/projects", headers=auth(org_b)), timeout=10
            )
            assert listed.status_code == 200 and time.monotonic() - start < 5

            assert llm.gate is not None
            llm.gate.set()
            answered = await asyncio.gather(*tasks)
            ok = [r for r in answered if r.status_code == 200]
            assert len(ok) == 12, [r.text for r in answered if r.status_code not in (200, 429)]
            # Every slot came back: org A may chat again.
            again = await chat(1)
            assert again.status_code == 200, again.text

    async def test_a_dead_holders_slot_lapses_with_its_lease(self, services: Settings) -> None:
        client = async_client(redis_url(services))
        try:
            slots = ChatSlots(client, limit=1, lease_s=60, retry_after_s=1)
            org = uuid.uuid4()
            # What a crashed process leaves: a slot whose lease nobody renews (ends in 300 ms).
            seconds, micros = await client.time()
            now_ms = seconds * 1000 + micros // 1000
            await client.zadd(ChatSlots.key(org), {"crashed": now_ms + 300})
            refused = 0
            while True:
                try:
                    async with slots.hold(org):
                        break
                except Exception as exc:  # RateLimited until the lease lapses
                    assert type(exc).__name__ == "RateLimited"
                    refused += 1
                    await asyncio.sleep(0.05)
            assert refused >= 1  # it was held, then freed without its holder
            assert await client.zcard(ChatSlots.key(org)) == 0  # and ours was released
        finally:
            await client.aclose()
