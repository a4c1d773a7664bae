"""CopilotTarget and ModelTarget logic over scripted fakes (the lead tests the copilot live)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from typing import Any

import pytest

from raylane.core.agenttests.targets import CopilotTarget, ModelTarget
from raylane.core.agenttests.types import Citation, TargetError
from raylane.core.copilot.engine import ChatRequest
from raylane.core.rbac import Actor, Role
from raylane.errors import NotFound, RateLimited, ServiceUnavailable

ACTOR = Actor(
    organization_id=uuid.uuid4(), user_id=uuid.uuid4(), role=Role.OWNER, permissions=frozenset()
)
PROJECT = uuid.uuid4()
MESSAGES = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "When is the launch?"},
    {"role": "assistant", "content": "Which launch?"},
    {"role": "user", "content": "Raylane's"},
]


class FakeChat:
    """``CopilotEngine.chat``'s shape, answering a scripted list of events."""

    def __init__(self, events: list[dict[str, Any]], *, raises: Exception | None = None) -> None:
        self.events, self.raises = events, raises
        self.requests: list[ChatRequest] = []
        self.closed = False

    async def __call__(self, actor: Actor, request: ChatRequest) -> AsyncGenerator[dict, None]:
        self.requests.append(request)
        try:
            if self.raises is not None:
                raise self.raises
            for event in self.events:
                if event.get("type") == "pause":
                    await asyncio.sleep(event["s"])
                    continue
                yield event
        finally:
            self.closed = True


def done(completion_tokens: int = 5, **extra: Any) -> dict[str, Any]:
    return {
        "type": "done",
        "finish_reason": "stop",
        "message_id": None,
        "usage": {"prompt_tokens": 40, "completion_tokens": completion_tokens},
    } | extra


CITATIONS = {
    "type": "citations",
    "citations": [
        {"index": 1, "document_id": "d1", "document_name": "launch.md", "score": 0.9},
        {"index": 2, "document_id": "d2", "document_name": "faq.md", "score": 0.5},
    ],
}


async def answer(chat: FakeChat, timeout_s: float = 5, **kw: Any):  # type: ignore[no-untyped-def]
    target = CopilotTarget(chat, ACTOR, PROJECT, **kw)
    return await target.answer(MESSAGES, variables={}, context=None, timeout_s=timeout_s)


async def test_answer_citations_tokens_and_request() -> None:
    chat = FakeChat(
        [
            CITATIONS,
            {"type": "token", "text": "In "},
            {"type": "token", "text": "May [1]."},
            done(4),
        ]
    )
    collection = uuid.uuid4()
    seen = await answer(chat, collection_ids=[collection])
    assert seen.output == "In May [1]."
    assert seen.output_tokens == 4
    assert seen.citations == [Citation(1, "d1", "launch.md"), Citation(2, "d2", "faq.md")]
    assert not seen.input_blocked and not seen.output_redacted
    assert seen.latency_ms > 0
    (request,) = chat.requests
    assert request.question == "Raylane's"
    assert request.history == MESSAGES[:3]
    assert request.project_id == PROJECT
    assert request.collection_ids == [collection]
    assert request.store is False  # a test run leaves no conversations
    assert chat.closed


async def test_input_blocked() -> None:
    chat = FakeChat([{"type": "blocked", "stage": "input", "detectors": ["injection"]}])
    seen = await answer(chat)
    assert seen.input_blocked and not seen.output_redacted
    assert seen.output == ""


async def test_output_blocked_counts_as_redacted() -> None:
    chat = FakeChat(
        [CITATIONS, {"type": "token", "text": "key"}, {"type": "blocked", "stage": "output"}]
    )
    seen = await answer(chat)
    assert seen.output_redacted and not seen.input_blocked


async def test_output_redacted_from_placeholders_or_the_done_flag() -> None:
    seen = await answer(FakeChat([{"type": "token", "text": "mail [EMAIL] now"}, done()]))
    assert seen.output_redacted
    seen = await answer(FakeChat([{"type": "token", "text": "on [date] at [time]"}, done()]))
    assert not seen.output_redacted  # the model's own brackets are not a redaction
    seen = await answer(FakeChat([{"type": "token", "text": "plain"}, done(redacted=True)]))
    assert seen.output_redacted


async def test_error_event_and_engine_errors_are_target_errors() -> None:
    with pytest.raises(TargetError, match="model_failed") as raised:
        await answer(FakeChat([{"type": "error", "error": "model_failed", "detail": "boom"}]))
    assert not raised.value.transient
    with pytest.raises(TargetError, match="busy") as raised:
        await answer(FakeChat([], raises=RateLimited("busy", retry_after=1, limit=8)))
    assert raised.value.transient
    with pytest.raises(TargetError, match="service_unavailable") as raised:
        await answer(FakeChat([], raises=ServiceUnavailable("the model is down")))
    assert not raised.value.transient
    with pytest.raises(TargetError, match="not_found"):
        await answer(FakeChat([], raises=NotFound("project", PROJECT)))


async def test_stream_without_done_is_an_error() -> None:
    with pytest.raises(TargetError, match="without a done event"):
        await answer(FakeChat([{"type": "token", "text": "half"}]))


async def test_timeout_closes_the_stream() -> None:
    chat = FakeChat([{"type": "token", "text": "a"}, {"type": "pause", "s": 5}, done()])
    with pytest.raises(TargetError, match=r"timed out after 0\.2s") as raised:
        await answer(chat, timeout_s=0.2)
    assert not raised.value.transient
    assert chat.closed  # the model is stopped, not left generating


class FakePredictor:
    def __init__(self, result: Any = None, *, delay: float = 0) -> None:
        self.result, self.delay = result, delay
        self.calls: list[tuple[Any, list[str]]] = []

    async def predict(self, ref: Any, texts: list[str]) -> list[dict[str, Any]]:
        self.calls.append((ref, texts))
        await asyncio.sleep(self.delay)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result or [{"label": "positive", "probabilities": {"positive": 0.9}}]


async def test_model_target_answers_the_label_of_the_last_user_message() -> None:
    predictor = FakePredictor()
    target = ModelTarget(predictor.predict, "ref-1")
    seen = await target.answer(MESSAGES, variables={}, context=None, timeout_s=5)
    assert seen.output == "positive"
    assert predictor.calls == [("ref-1", ["Raylane's"])]


async def test_model_target_errors() -> None:
    async def ask(predictor: FakePredictor, timeout_s: float = 5) -> None:
        await ModelTarget(predictor.predict, "r").answer(
            MESSAGES, variables={}, context=None, timeout_s=timeout_s
        )

    with pytest.raises(TargetError, match="timed out"):
        await ask(FakePredictor(delay=5), timeout_s=0.1)
    with pytest.raises(TargetError, match="service_unavailable"):
        await ask(FakePredictor(ServiceUnavailable("no replica")))
    with pytest.raises(TargetError, match="no prediction"):
        await ask(FakePredictor([{"probabilities": {}}]))
