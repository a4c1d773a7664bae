"""The endpoint router's logic without servers: the choice of version (weights, sticky keys),
the split cache (per organization, refreshed after its TTL, one load at a time), the sticky
key's source, the windows' p95, and copilot configurations applied to a chat request."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from typing import Any

import pytest

from raylane.core.agenttests.targets import CopilotTarget
from raylane.core.copilot import prompt
from raylane.core.copilot.engine import ChatRequest
from raylane.core.endpoints import configs, stats
from raylane.core.endpoints.routing import Split, Version, bucket, choose
from raylane.core.rbac import Actor, Role
from raylane.errors import NotFound
from raylane.infra.llm.base import GenerationParams
from raylane.schemas.endpoints import CopilotConfigSpec
from raylane.serve import router as router_module
from raylane.serve.router import EndpointRouting, public_headers, sticky_key

ENDPOINT = uuid.UUID("0190a0b0-0000-7000-8000-000000000001")
ORG = uuid.uuid4()


def _split(weight: int, *, canary: bool = True, sticky_header: str | None = None) -> Split:
    return Split(
        endpoint_id=ENDPOINT,
        organization_id=ORG,
        project_id=uuid.uuid4(),
        kind="model",
        subject="m",
        stable=Version(uuid.uuid4(), "1", {"artifact_key": "a"}),
        canary=Version(uuid.uuid4(), "2", {"artifact_key": "b"}) if canary else None,
        weight=weight,
        sticky_header=sticky_header,
        generation=1,
    )


def _actor(org: uuid.UUID = ORG) -> Actor:
    return Actor(
        organization_id=org, user_id=uuid.uuid4(), role=Role.VIEWER, permissions=frozenset()
    )


class TestChoose:
    def test_no_canary_or_no_weight_is_always_stable(self) -> None:
        for draw in (0.0, 0.05, 0.99):
            assert choose(ENDPOINT, _split(50, canary=False), None, draw) == "stable"
            assert choose(ENDPOINT, _split(0), "k", draw) == "stable"
        assert choose(ENDPOINT, _split(100), "k", 0.99) == "canary"

    def test_a_draw_below_the_weight_goes_to_the_canary(self) -> None:
        assert choose(ENDPOINT, _split(10), None, 0.0999) == "canary"
        assert choose(ENDPOINT, _split(10), None, 0.10) == "stable"

    def test_keys_split_by_weight_and_stay_put(self) -> None:
        keys = [f"user-{i}" for i in range(20_000)]
        at_10 = {k for k in keys if choose(ENDPOINT, _split(10), k, 0.99) == "canary"}
        assert 0.09 <= len(at_10) / len(keys) <= 0.11
        # The draw is ignored with a key: the same key, the same version.
        assert all(choose(ENDPOINT, _split(10), k, 0.0) == "canary" for k in at_10)
        # Raising the weight only moves keys to the canary, never back.
        at_25 = {k for k in keys if choose(ENDPOINT, _split(25), k, 0.5) == "canary"}
        assert at_10 < at_25

    def test_the_endpoint_salts_the_bucket(self) -> None:
        other = uuid.uuid4()
        same = sum(bucket(ENDPOINT, f"u{i}") == bucket(other, f"u{i}") for i in range(1000))
        assert same < 10  # a user is not first in line on every endpoint


class TestStickyKey:
    def test_header_wins_then_body_key(self) -> None:
        split = _split(50, sticky_header="X-User-Id")
        headers = public_headers({"X-User-Id": "u1", "Authorization": "Bearer rl_secret"})
        assert "authorization" not in headers  # credentials never travel to the router
        assert sticky_key(split, "body", headers) == "u1"
        assert sticky_key(split, "body", {}) == "body"
        assert sticky_key(_split(50), "body", headers) == "body"  # no header configured
        assert sticky_key(_split(50), None, headers) is None


class _Db:
    """A database whose sessions are counted; ``load_split`` is patched to read ``splits``."""

    def __init__(self) -> None:
        self.loads = 0
        self.gate: asyncio.Event | None = None

    @asynccontextmanager
    async def session(self, *, organization_id: uuid.UUID) -> Any:
        yield organization_id


@pytest.fixture
def routing(monkeypatch: pytest.MonkeyPatch) -> tuple[EndpointRouting, _Db, list[float]]:
    db = _Db()
    now = [100.0]
    split = _split(10)

    async def load_split(session: Any, *, endpoint_id: uuid.UUID) -> Split:
        db.loads += 1
        if db.gate is not None:
            await db.gate.wait()
        if session != split.organization_id:  # row-level security: another tenant sees nothing
            raise NotFound("endpoint", endpoint_id)
        return split

    monkeypatch.setattr(router_module.endpoint_service, "load_split", load_split)
    router = EndpointRouting(db, None, None, None, ttl_s=1.0, clock=lambda: now[0])  # type: ignore[arg-type]
    return router, db, now


class TestSplitCache:
    async def test_cached_for_the_ttl_then_reloaded(self, routing: Any) -> None:
        router, db, now = routing
        await router.split(_actor(), ENDPOINT)
        now[0] += 0.5
        await router.split(_actor(), ENDPOINT)
        assert db.loads == 1
        now[0] += 0.6
        await router.split(_actor(), ENDPOINT)
        assert db.loads == 2

    async def test_another_organization_never_gets_the_cached_split(self, routing: Any) -> None:
        router, db, _ = routing
        await router.split(_actor(), ENDPOINT)
        with pytest.raises(NotFound):
            await router.split(_actor(uuid.uuid4()), ENDPOINT)
        assert db.loads == 2  # looked up under its own tenant, not served from the cache

    async def test_concurrent_misses_load_once(self, routing: Any) -> None:
        router, db, _ = routing
        db.gate = asyncio.Event()
        calls = [asyncio.ensure_future(router.split(_actor(), ENDPOINT)) for _ in range(20)]
        await asyncio.sleep(0)
        db.gate.set()
        results = await asyncio.gather(*calls)
        assert db.loads == 1 and len({id(r) for r in results}) == 1


class TestWindows:
    def test_p95_interpolates_inside_its_bucket(self) -> None:
        histogram = [0] * (len(stats.LATENCY_BOUNDS_MS) + 1)
        histogram[2] = 100  # all in (10, 25] ms
        assert stats._p95(histogram, 100) == pytest.approx(10 + 15 * 0.95)
        assert stats._p95([0] * len(histogram), 0) is None
        histogram[-1] = 1000  # most past the last bound: that bound
        assert stats._p95(histogram, 1100) == stats.LATENCY_BOUNDS_MS[-1]

    def test_rates_are_zero_without_requests(self) -> None:
        empty = stats.VersionStats(requests=0, errors=0, blocked=0, tokens=0, p95_ms=None)
        assert empty.error_rate == 0 and empty.block_rate == 0
        some = stats.VersionStats(requests=10, errors=5, blocked=1, tokens=0, p95_ms=3.0)
        assert some.error_rate == 0.5 and some.block_rate == 0.1


class TestConfigs:
    def test_same_spec_same_digest(self) -> None:
        a = configs.stored_spec(CopilotConfigSpec.model_validate({"top_k": 4}))
        b = configs.stored_spec(CopilotConfigSpec.model_validate({"answer_mode": "auto"}))
        assert configs.digest(a) == configs.digest(b)
        c = configs.stored_spec(CopilotConfigSpec.model_validate({"top_k": 5}))
        assert configs.digest(a) != configs.digest(c)

    def test_a_spec_wins_where_it_speaks(self) -> None:
        collection = uuid.uuid4()
        spec = configs.stored_spec(
            CopilotConfigSpec.model_validate(
                {
                    "system_prompt": "Be brief.",
                    "answer_mode": "generative",
                    "top_k": 7,
                    "collection_ids": [str(collection)],
                    "max_tokens": 5000,
                    "temperature": 0.9,
                    "guardrail_policy": {"denied_keywords": ["pineapple"]},
                }
            )
        )
        request = ChatRequest(question="q", params=GenerationParams(64, [], 0.2))
        applied = configs.apply(request, spec, max_tokens_limit=1024)
        assert applied.system_prompt == "Be brief." and applied.answer_mode == "generative"
        assert applied.top_k == 7 and applied.collection_ids == [collection]
        assert applied.params.max_tokens == 1024 and applied.params.temperature == 0.9
        assert applied.guardrail_policy == {"denied_keywords": ["pineapple"]}
        # Left out: the request's own values.
        bare = configs.apply(request, configs.stored_spec(CopilotConfigSpec()))
        assert bare.params == request.params and bare.system_prompt is None
        assert bare.collection_ids == [] and bare.guardrail_policy is None

    def test_the_system_prompt_replaces_the_platforms(self) -> None:
        messages = prompt.build([], [], "q", system="Answer in French.")
        assert messages[0] == {"role": "system", "content": "Answer in French."}
        assert prompt.build([], [], "q")[0]["content"] != "Answer in French."

    async def test_a_copilot_target_asks_with_its_configuration(self) -> None:
        seen: list[ChatRequest] = []

        async def chat(actor: Actor, request: ChatRequest) -> Any:
            seen.append(request)
            yield {"type": "done", "usage": {"prompt_tokens": 1, "completion_tokens": 1}}

        spec = {"system_prompt": "Be brief.", "top_k": 9, "answer_mode": "extractive"}
        target = CopilotTarget(chat, _actor(), uuid.uuid4(), config=spec)
        await target.answer(
            [{"role": "user", "content": "hi"}], variables={}, context=None, timeout_s=5
        )
        assert seen[0].system_prompt == "Be brief." and seen[0].top_k == 9
        assert seen[0].answer_mode == "extractive" and seen[0].store is False


class TestTalliedStream:
    async def test_closing_before_the_first_read_closes_the_chat(self) -> None:
        """A client gone while the head events were sent: the route closes the rest of the
        stream unread, and the chat under it (which holds a chat slot) must close too."""
        from raylane.serve.routes.endpoints import _Tallied, _Tally

        closed: list[bool] = []

        async def rest() -> Any:
            try:
                yield {"type": "citations", "citations": []}
                yield {"type": "token", "text": "a"}
            finally:
                closed.append(True)

        chat = rest()
        await chat.__anext__()  # started, as the route's head leaves it
        tally = _Tally(uuid.uuid4(), "1")
        await _Tallied(chat, tally).aclose()
        assert closed == [True]
