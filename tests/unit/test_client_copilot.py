"""SDK unit tests for the copilot (chat, streamed chat, conversations) and usage."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from raylane.client import (
    APIConnectionError,
    AsyncClient,
    ChatOptions,
    Client,
    GuardrailBlocked,
    InternalError,
    NotFound,
    RateLimited,
    RaylaneError,
    ServiceUnavailable,
    ValidationError,
)
from raylane.client._sse import ServerSentEvent, SSEDecoder
from raylane.client.errors import ERRORS_BY_CODE, code_for_status
from raylane.client.resources.copilot import ChatEvent
from raylane.schemas.copilot import ChatAnswer, ConversationRead, UsageRead
from tests.unit.fake_api import (
    API_KEY,
    BASE_URL,
    NOW,
    FakeApi,
    isolate_env,
    json_body,
    page,
)

PID = str(uuid.uuid4())
CONV = str(uuid.uuid4())
MSG = str(uuid.uuid4())
CHAT = f"/api/v1/projects/{PID}/copilot/chat"
CONVERSATIONS = f"/api/v1/projects/{PID}/copilot/conversations"


# --- wire helpers -------------------------------------------------------------------------


def citation(index: int = 1, **over: Any) -> dict[str, Any]:
    return {
        "index": index,
        "document_id": str(uuid.uuid4()),
        "document_name": "leave.md",
        "chunk_id": str(uuid.uuid4()),
        "chunk_index": 3,
        "score": 0.8123,
    } | over


def usage_body() -> dict[str, int]:
    return {"prompt_tokens": 120, "completion_tokens": 9}


def answer_json(**over: Any) -> dict[str, Any]:
    data = {
        "conversation_id": CONV,
        "message_id": MSG,
        "answer": "Sixteen weeks [1].",
        "citations": [citation()],
        "usage": usage_body(),
        "finish_reason": "stop",
    }
    return ChatAnswer.model_validate(data | over).model_dump(mode="json")


def conversation_json(**over: Any) -> dict[str, Any]:
    data = {
        "id": CONV,
        "project_id": PID,
        "title": "How long is parental leave?",
        "created_at": NOW,
        "messages": [],
    }
    return ConversationRead.model_validate(data | over).model_dump(mode="json")


def usage_json() -> dict[str, Any]:
    data = {
        "daily_token_quota": 2_000_000,
        "tokens_used_today": 1290,
        "days": [
            {"day": date(2026, 1, 2), "requests": 3, "input_tokens": 1200, "output_tokens": 90}
        ],
    }
    return UsageRead.model_validate(data).model_dump(mode="json")


def sse(kind: str, **payload: Any) -> bytes:
    """One event as the server writes it."""
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **payload})}\n\n".encode()


def answer_events(*tokens: str) -> bytes:
    return b"".join(
        [
            sse("conversation", conversation_id=CONV),
            sse("citations", citations=[citation(1), citation(2, document_name="faq.md")]),
            *(sse("token", text=t) for t in tokens),
            sse("done", finish_reason="stop", message_id=MSG, usage=usage_body()),
        ]
    )


def chunks(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def stream_response(body: bytes, *, size: int = 7, status: int = 200) -> httpx.Response:
    """An event stream delivered in network chunks of ``size`` bytes (sync transports)."""

    def pieces() -> Iterator[bytes]:
        yield from chunks(body, size)

    return httpx.Response(status, content=pieces(), headers={"content-type": EVENT_STREAM})


def astream_response(body: bytes, *, size: int = 7) -> httpx.Response:
    """The same for async transports."""

    async def pieces() -> AsyncIterator[bytes]:
        for piece in chunks(body, size):
            yield piece

    return httpx.Response(200, content=pieces(), headers={"content-type": EVENT_STREAM})


EVENT_STREAM = "text/event-stream; charset=utf-8"


@pytest.fixture(autouse=True)
def config_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def client(api: FakeApi) -> Iterator[Client]:
    with Client(BASE_URL, API_KEY, transport=api.transport()) as c:
        yield c


def streamed(api: FakeApi, body: bytes, *, size: int = 7) -> FakeApi:
    return api.handle("POST", CHAT, lambda _: stream_response(body, size=size))


# --- the decoder --------------------------------------------------------------------------


class TestSSEDecoder:
    def decode(self, body: bytes, size: int) -> list[ServerSentEvent]:
        decoder = SSEDecoder()
        events = [e for piece in chunks(body, size) for e in decoder.feed(piece)]
        return events + list(decoder.close())

    @pytest.mark.parametrize("size", [1, 2, 3, 5, 64, 10_000])
    def test_any_chunking_gives_the_same_events(self, size: int) -> None:
        body = answer_events("Sixteen", " weeks", " — [1] ✓")
        events = self.decode(body, size)
        assert [e.event for e in events] == [
            "conversation",
            "citations",
            "token",
            "token",
            "token",
            "done",
        ]
        assert json.loads(events[4].data)["text"] == " — [1] ✓"  # UTF-8 cut between chunks

    @pytest.mark.parametrize("size", [1, 4, 100])
    def test_line_ends_comments_and_multiline_data(self, size: int) -> None:
        body = (
            b"\xef\xbb\xbf: keep-alive\r\n"
            b"event: a\r\ndata: one\r\ndata:two\r\nid: 7\r\nretry: 10\r\n\r\n"
            b"data: bare\r\r"
            b"event: c\ndata\n\n"
            b"event: empty\n\n"
        )
        events = self.decode(body, size)
        assert events == [
            ServerSentEvent("a", "one\ntwo"),
            ServerSentEvent("message", "bare"),
            ServerSentEvent("c", ""),
        ]

    def test_crlf_split_between_chunks_is_one_line_end(self) -> None:
        decoder = SSEDecoder()
        assert list(decoder.feed(b"data: x\r")) == []
        assert list(decoder.feed(b"\n\r")) == []
        assert list(decoder.feed(b"\n")) == [ServerSentEvent("message", "x")]

    def test_an_unterminated_last_event_is_dropped(self) -> None:
        decoder = SSEDecoder()
        assert list(decoder.feed(b"data: whole\n\ndata: cut")) == [
            ServerSentEvent("message", "whole")
        ]
        assert list(decoder.close()) == []


# --- streamed chat ------------------------------------------------------------------------


class TestStream:
    @pytest.mark.parametrize("size", [1, 7, 4096])
    def test_events_in_order_across_network_chunks(
        self, api: FakeApi, client: Client, size: int
    ) -> None:
        streamed(api, answer_events("Sixteen", " weeks", " [1]."), size=size)

        events = list(client.copilot.stream(PID, "How long is parental leave?"))

        assert [e.type for e in events] == [
            "conversation",
            "citations",
            "token",
            "token",
            "token",
            "done",
        ]
        assert all(isinstance(e, ChatEvent) for e in events)
        assert str(events[0].conversation_id) == CONV
        assert [c.document_name for c in events[1].citations] == ["leave.md", "faq.md"]
        assert "".join(e.text for e in events if e.type == "token") == "Sixteen weeks [1]."
        done = events[-1]
        assert done.finish_reason == "stop" and str(done.message_id) == MSG
        assert done.usage is not None and done.usage.completion_tokens == 9

    def test_request_asks_for_a_stream(self, api: FakeApi, client: Client) -> None:
        streamed(api, answer_events("ok"))
        list(
            client.copilot.stream(
                PID,
                "And the second parent?",
                messages=[
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"},
                ],
                conversation_id=CONV,
                top_k=6,
                max_tokens=50,
            )
        )
        sent = api.last()
        assert sent.headers["accept"] == "text/event-stream"
        assert sent.headers["authorization"] == f"Bearer {API_KEY}"
        data = json_body(sent)
        assert data["stream"] is True
        assert data["messages"][-1] == {"role": "user", "content": "And the second parent?"}
        assert len(data["messages"]) == 3
        assert (data["conversation_id"], data["top_k"], data["max_tokens"]) == (CONV, 6, 50)

    def test_nothing_is_sent_until_iteration(self, api: FakeApi, client: Client) -> None:
        streamed(api, answer_events("ok"))
        events = client.copilot.stream(PID, "q")
        assert api.requests == []
        assert next(iter(events)).type == "conversation"
        assert len(api.requests) == 1

    def test_arguments_are_checked_before_iteration(self, api: FakeApi, client: Client) -> None:
        with pytest.raises(ValidationError):
            client.copilot.stream(PID, "q", top_k=0)
        assert api.requests == []

    def test_blocked_event_raises_and_nothing_follows(self, api: FakeApi, client: Client) -> None:
        body = answer_events("Mail ada").replace(
            sse("done", finish_reason="stop", message_id=MSG, usage=usage_body()),
            sse(
                "blocked",
                stage="output",
                detectors=["email"],
                detail="blocked by guardrails at the output stage",
            )
            + sse("token", text="never seen"),
        )
        streamed(api, body, size=5)

        seen: list[ChatEvent] = []
        with pytest.raises(GuardrailBlocked) as info:
            for event in client.copilot.stream(PID, "q"):
                seen.append(event)

        assert [e.type for e in seen] == ["conversation", "citations", "token"]
        err = info.value
        assert err.code == "guardrail_blocked" and err.status is None
        assert (err.stage, err.detectors) == ("output", ["email"])
        assert str(err) == "guardrail_blocked: blocked by guardrails at the output stage (email)"

    def test_blocked_question_raises_before_any_event(self, api: FakeApi, client: Client) -> None:
        body = sse("blocked", stage="input", detectors=["secret"], detail="blocked by guardrails")
        streamed(api, body)
        with pytest.raises(GuardrailBlocked, match="secret"):
            next(iter(client.copilot.stream(PID, "my key is sk-...")))

    @pytest.mark.parametrize(
        ("code", "cls"),
        [("service_unavailable", ServiceUnavailable), ("internal_error", InternalError)],
    )
    def test_error_event_raises_the_mapped_error(
        self, api: FakeApi, client: Client, code: str, cls: type[RaylaneError]
    ) -> None:
        body = answer_events("Six").replace(
            sse("done", finish_reason="stop", message_id=MSG, usage=usage_body()),
            sse("error", error=code, detail="llama.cpp generation failed"),
        )
        streamed(api, body)
        events = client.copilot.stream(PID, "q")
        with pytest.raises(cls, match=r"llama\.cpp generation failed") as info:
            for _ in events:
                pass
        assert info.value.code == code

    def test_stream_cut_before_done_raises(self, api: FakeApi, client: Client) -> None:
        body = answer_events("Sixteen").split(b"event: done")[0]
        streamed(api, body)
        with pytest.raises(APIConnectionError, match="ended before it was complete"):
            list(client.copilot.stream(PID, "q"))

    def test_unknown_event_types_pass_through(self, api: FakeApi, client: Client) -> None:
        body = sse("progress", stage="retrieval") + answer_events("ok")
        streamed(api, body)
        types = [e.type for e in client.copilot.stream(PID, "q")]
        assert (types[0], types[-1]) == ("progress", "done")

    def test_event_that_is_not_json_is_invalid_response(self, api: FakeApi, client: Client) -> None:
        streamed(api, b"event: token\ndata: {not json\n\n")
        with pytest.raises(RaylaneError) as info:
            list(client.copilot.stream(PID, "q"))
        assert info.value.code == "invalid_response"

    def test_errors_before_the_stream_are_json(self, api: FakeApi, client: Client) -> None:
        detail = "blocked by guardrails at the input stage (email)"
        api.error("POST", CHAT, status=422, code="guardrail_blocked", detail=detail)
        with pytest.raises(GuardrailBlocked) as info:
            list(client.copilot.stream(PID, "mail ada@example.com"))
        assert info.value.status == 422 and info.value.message == detail

    def test_rate_limited_before_the_stream(self, api: FakeApi, client: Client) -> None:
        api.error(
            "POST",
            CHAT,
            status=429,
            code="rate_limited",
            detail="daily token quota used up",
            headers={"Retry-After": "30"},
        )
        with pytest.raises(RateLimited) as info:
            list(client.copilot.stream(PID, "q"))
        assert info.value.retry_after == 30

    def test_success_that_is_not_an_event_stream(self, api: FakeApi, client: Client) -> None:
        api.on("POST", CHAT, body=answer_json())
        with pytest.raises(RaylaneError) as info:
            list(client.copilot.stream(PID, "q"))
        assert info.value.code == "invalid_response"

    def test_unreachable_server_is_a_connection_error(self) -> None:
        def refused(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused", request=request)

        c = Client(BASE_URL, API_KEY, transport=httpx.MockTransport(refused))
        with pytest.raises(APIConnectionError, match="could not reach"):
            list(c.copilot.stream(PID, "q"))

    def test_dropped_connection_is_a_connection_error(self) -> None:
        def broken(_: httpx.Request) -> httpx.Response:
            def pieces() -> Iterator[bytes]:
                yield sse("conversation", conversation_id=CONV)
                raise httpx.RemoteProtocolError("peer closed connection")

            return httpx.Response(200, content=pieces(), headers={"content-type": EVENT_STREAM})

        with Client(BASE_URL, API_KEY, transport=httpx.MockTransport(broken)) as c:
            events = c.copilot.stream(PID, "q")
            with pytest.raises(APIConnectionError, match="broke while reading the answer"):
                list(events)


# --- whole answers, conversations, usage --------------------------------------------------


class TestChat:
    def test_answer_with_citations(self, api: FakeApi, client: Client) -> None:
        api.on("POST", CHAT, body=answer_json())
        answer = client.copilot.chat(PID, "How long is parental leave?", collection_ids=[CONV])
        assert answer.answer == "Sixteen weeks [1]." and answer.citations[0].index == 1
        assert str(answer.conversation_id) == CONV
        data = json_body(api.last())
        assert data == {
            "messages": [{"role": "user", "content": "How long is parental leave?"}],
            "collection_ids": [CONV],
            "top_k": 4,
            "temperature": 0.2,
            "stream": False,
        }

    def test_messages_alone_end_with_the_question(self, api: FakeApi, client: Client) -> None:
        api.on("POST", CHAT, body=answer_json())
        client.copilot.chat(PID, messages=[{"role": "user", "content": "Leave?"}], stop=["Q:"])
        data = json_body(api.last())
        assert data["messages"] == [{"role": "user", "content": "Leave?"}]
        assert data["stop"] == ["Q:"]

    @pytest.mark.parametrize(
        "kwargs",
        [
            {},
            {"messages": [{"role": "assistant", "content": "Hi"}]},
            {"question": "q", "temperature": 3},
            {"question": "q", "top_k": 21},
        ],
    )
    def test_invalid_requests_are_not_sent(
        self, api: FakeApi, client: Client, kwargs: dict[str, Any]
    ) -> None:
        with pytest.raises(ValidationError) as info:
            client.copilot.chat(PID, **kwargs)
        assert info.value.status is None
        assert api.requests == []

    def test_options_carry_the_settings_and_keywords_override_them(
        self, api: FakeApi, client: Client
    ) -> None:
        api.on("POST", CHAT, body=answer_json())
        options = ChatOptions(top_k=2, temperature=0.0, stop=["Q:"], max_tokens=64)
        client.copilot.chat(PID, "q", options=options)
        assert json_body(api.last()) == {
            "messages": [{"role": "user", "content": "q"}],
            "top_k": 2,
            "max_tokens": 64,
            "temperature": 0.0,
            "stop": ["Q:"],
            "stream": False,
        }
        client.copilot.chat(PID, "q", options=options, top_k=7)
        assert (json_body(api.last())["top_k"], json_body(api.last())["max_tokens"]) == (7, 64)

    def test_an_unknown_keyword_is_a_type_error(self, api: FakeApi, client: Client) -> None:
        with pytest.raises(TypeError):
            client.copilot.chat(PID, "q", top_p=0.9)  # type: ignore[call-arg]
        assert api.requests == []

    def test_blocked_question(self, api: FakeApi, client: Client) -> None:
        api.error("POST", CHAT, status=422, code="guardrail_blocked", detail="blocked (email)")
        with pytest.raises(GuardrailBlocked) as info:
            client.copilot.chat(PID, "mail ada@example.com")
        assert (info.value.stage, info.value.detectors) == (None, [])

    def test_missing_project(self, api: FakeApi, client: Client) -> None:
        api.error("POST", CHAT, status=404, code="not_found", detail="project not found")
        with pytest.raises(NotFound):
            client.copilot.chat(PID, "q")

    def test_waits_longer_than_ordinary_calls(self, api: FakeApi, client: Client) -> None:
        api.on("POST", CHAT, body=answer_json())
        client.copilot.chat(PID, "q")
        assert api.last().extensions["timeout"]["read"] == 300.0


class TestConversationsAndUsage:
    def test_list_and_iter(self, api: FakeApi, client: Client) -> None:
        other = str(uuid.uuid4())
        api.on("GET", CONVERSATIONS, body=page([conversation_json()], "c1"))
        first = client.copilot.conversations(PID, limit=1)
        assert first.next_cursor == "c1" and str(first.items[0].id) == CONV

        api.on("GET", CONVERSATIONS, body=page([conversation_json(id=other)]))
        ids = [str(c.id) for c in client.copilot.iter_conversations(PID, page_size=1)]
        assert ids == [CONV, other]
        assert [r.url.params.get("cursor") for r in api.requests[1:]] == [None, "c1"]

    def test_get_with_messages(self, api: FakeApi, client: Client) -> None:
        messages = [
            {"id": str(uuid.uuid4()), "role": "user", "content": "Leave?", "created_at": NOW},
            {
                "id": MSG,
                "role": "assistant",
                "content": "Sixteen weeks [1].",
                "citations": [citation()],
                "created_at": NOW,
            },
        ]
        api.on("GET", f"/api/v1/conversations/{CONV}", body=conversation_json(messages=messages))
        found = client.copilot.conversation(CONV)
        assert [m.role for m in found.messages] == ["user", "assistant"]
        assert found.messages[1].citations[0].document_name == "leave.md"

    def test_usage(self, api: FakeApi, client: Client) -> None:
        api.on("GET", "/api/v1/usage", body=usage_json())
        report = client.usage(days=30)
        assert report.tokens_used_today == 1290 and report.days[0].requests == 3
        assert api.last().url.params["days"] == "30"


def test_guardrail_blocked_is_in_the_error_table() -> None:
    assert ERRORS_BY_CODE["guardrail_blocked"] is GuardrailBlocked
    assert code_for_status(422) == "validation_error"  # a bare 422 is not a guardrail verdict


# --- async mirrors ------------------------------------------------------------------------


class TestAsync:
    async def test_stream_with_async_for(self, api: FakeApi) -> None:
        api.handle("POST", CHAT, lambda _: astream_response(answer_events("Six", "teen"), size=3))
        async with AsyncClient(BASE_URL, API_KEY, transport=api.transport()) as client:
            events = [e async for e in client.copilot.stream(PID, "q")]
        assert [e.type for e in events][-1] == "done"
        assert "".join(e.text for e in events) == "Sixteen"

    async def test_blocked_event_raises(self, api: FakeApi) -> None:
        body = sse("citations", citations=[]) + sse(
            "blocked", stage="input", detectors=["email"], detail="blocked"
        )
        api.handle("POST", CHAT, lambda _: astream_response(body))
        async with AsyncClient(BASE_URL, API_KEY, transport=api.transport()) as client:
            seen = []
            with pytest.raises(GuardrailBlocked):
                async for event in client.copilot.stream(PID, "q"):
                    seen.append(event.type)
        assert seen == ["citations"]

    async def test_chat_conversations_and_usage(self, api: FakeApi) -> None:
        api.on("POST", CHAT, body=answer_json())
        api.on("GET", CONVERSATIONS, body=page([conversation_json()]))
        api.on("GET", f"/api/v1/conversations/{CONV}", body=conversation_json())
        api.on("GET", "/api/v1/usage", body=usage_json())
        async with AsyncClient(BASE_URL, API_KEY, transport=api.transport()) as client:
            assert (await client.copilot.chat(PID, "q")).finish_reason == "stop"
            assert [str(c.id) async for c in client.copilot.iter_conversations(PID)] == [CONV]
            assert (await client.copilot.conversation(CONV)).title.startswith("How long")
            assert (await client.usage()).daily_token_quota == 2_000_000
        assert api.last().url.params["days"] == "7"

    def test_async_methods_carry_the_sync_docstrings(self) -> None:
        from raylane.client.resources.copilot import AsyncCopilot, Copilot

        for name in ("chat", "stream", "conversations", "iter_conversations", "conversation"):
            assert getattr(AsyncCopilot, name).__doc__ == getattr(Copilot, name).__doc__
