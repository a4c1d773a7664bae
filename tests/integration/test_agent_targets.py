"""The HTTP and OpenAI-compatible targets against the stub agent on a real port."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from raylane.core.agenttests.targets import HttpAgentTarget, OpenAITarget
from raylane.core.agenttests.types import TargetError, ToolCall
from raylane.infra.egress import egress_client
from raylane.schemas.agent_tests import HttpTemplate
from raylane.testing.stub_agent import StubAgent

SECRET = "sk-test-5ecret-value-0042"
TEMPLATE = HttpTemplate(
    body={"input": "{{input}}", "messages": "{{messages}}", "note": "ctx={{context}}"},
    output="output",
    tool_calls="tool_calls",
    tokens="usage.output_tokens",
)


@pytest.fixture(scope="module")
def stub() -> Iterator[StubAgent]:
    agent = StubAgent(delay_s=0.01)
    with agent:
        yield agent


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with egress_client(allow_private=True) as http:
        yield http


def http_target(stub: StubAgent, client: httpx.AsyncClient, **kw: object) -> HttpAgentTarget:
    return HttpAgentTarget(
        f"{stub.url}/agent",
        kw.pop("template", TEMPLATE),  # type: ignore[arg-type]
        {"X-Team": "evals"},
        {"Authorization": f"Bearer {SECRET}"},
        client=client,
        allow_private=bool(kw.pop("allow_private", True)),
    )


def openai_target(stub: StubAgent, client: httpx.AsyncClient) -> OpenAITarget:
    return OpenAITarget(
        f"{stub.url}/v1/",
        "stub-model",
        {},
        {"Authorization": f"Bearer {SECRET}"},
        client=client,
        allow_private=True,
    )


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


async def ask(target: object, text: str, timeout_s: float = 5) -> object:
    return await target.answer(user(text), variables={}, context=None, timeout_s=timeout_s)  # type: ignore[attr-defined]


class TestHttpAgentTarget:
    async def test_output_tokens_and_latency(self, stub, client) -> None:
        seen = await ask(http_target(stub, client), "echo:hello there")
        assert seen.output == "hello there"
        assert seen.output_tokens == 2
        assert seen.latency_ms >= 10  # the stub's delay is inside it
        assert seen.tool_calls == []

    async def test_tool_calls(self, stub, client) -> None:
        seen = await ask(http_target(stub, client), 'tool:search {"q": "ray", "k": 3}')
        assert seen.tool_calls == [ToolCall("search", {"q": "ray", "k": 3})]

    async def test_template_renders_messages_context_and_vars(self, stub, client) -> None:
        captured: list[dict] = []

        def record(request: httpx.Request) -> httpx.Response:
            import json

            captured.append(json.loads(request.content))
            return httpx.Response(200, json={"data": {"choices": [{"text": "fine"}]}})

        template = HttpTemplate(
            body={
                "q": "{{input}} for {{vars.team}}",
                "history": "{{messages}}",
                "history_text": "turns: {{messages}}",
                "ctx": "{{context}}",
                "n": 3,
            },
            output="data.choices.0.text",
        )
        async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as mock:
            target = HttpAgentTarget(
                "http://127.0.0.1:9/agent", template, {}, {}, client=mock, allow_private=True
            )
            messages = [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "yes"},
                {"role": "user", "content": "second"},
            ]
            seen = await target.answer(
                messages, variables={"team": "core"}, context="the docs", timeout_s=5
            )
            assert seen.output == "fine"
            body = captured[0]
            assert body["q"] == "second for core"
            assert body["history"] == messages  # a JSON value, not text
            assert body["history_text"].startswith('turns: [{"role": "user"')
            assert body["ctx"] == "the docs"
            assert body["n"] == 3
            with pytest.raises(TargetError, match=r"vars\.missing"):
                bad = HttpTemplate(body={"q": "{{vars.missing}}"}, output="")
                await HttpAgentTarget(
                    "http://127.0.0.1:9/", bad, {}, {}, client=mock, allow_private=True
                ).answer(messages, variables={}, context=None, timeout_s=5)

    async def test_empty_output_path_is_the_whole_body(self, stub, client) -> None:
        template = HttpTemplate(body={"input": "{{input}}"}, output="")
        seen = await ask(http_target(stub, client, template=template), "echo:x")
        assert '"output": "x"' in seen.output or '"output":"x"' in seen.output

    async def test_missing_output_path_is_an_error(self, stub, client) -> None:
        template = HttpTemplate(body={"input": "{{input}}"}, output="answer.text")
        with pytest.raises(TargetError, match=r"answer\.text") as raised:
            await ask(http_target(stub, client, template=template), "echo:x")
        assert not raised.value.transient

    async def test_timeout_is_a_non_transient_error(self, stub, client) -> None:
        with pytest.raises(TargetError, match=r"timed out after 0\.3s") as raised:
            await ask(http_target(stub, client), "sleep:3", timeout_s=0.3)
        assert not raised.value.transient

    async def test_500_is_an_error_503_is_transient(self, stub, client) -> None:
        target = http_target(stub, client)
        with pytest.raises(TargetError, match="HTTP 500") as raised:
            await ask(target, "status:500")
        assert not raised.value.transient
        for code in (429, 502, 503, 504):
            with pytest.raises(TargetError, match=f"HTTP {code}") as raised:
                await ask(target, f"status:{code}")
            assert raised.value.transient
        with pytest.raises(TargetError, match="HTTP 404") as raised:
            await ask(target, "status:404")
        assert not raised.value.transient

    async def test_flaky_agent_recovers(self, stub, client) -> None:
        target = http_target(stub, client)
        with pytest.raises(TargetError) as raised:
            await ask(target, "flaky:k1")
        assert raised.value.transient
        assert (await ask(target, "flaky:k1")).output == "ok: k1"

    async def test_connection_refused_is_transient(self, client) -> None:
        import socket

        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        target = HttpAgentTarget(
            f"http://127.0.0.1:{port}/agent", TEMPLATE, {}, {}, client=client, allow_private=True
        )
        with pytest.raises(TargetError, match="connection failed") as raised:
            await ask(target, "echo:x")
        assert raised.value.transient

    async def test_secret_header_sent_but_never_in_errors_or_logs(
        self, stub, client, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        target = http_target(stub, client)
        await ask(target, "echo:hi")
        sent = stub.last_headers["/agent"]
        assert sent["authorization"] == f"Bearer {SECRET}"
        assert sent["x-team"] == "evals"
        # The stub echoes the request's headers in its error body, as a careless agent would.
        with pytest.raises(TargetError) as raised:
            await ask(target, "status:401")
        assert "HTTP 401" in str(raised.value)
        assert "[SECRET]" in str(raised.value)
        assert SECRET not in str(raised.value)
        assert "5ecret" not in str(raised.value)
        with pytest.raises(TargetError) as raised:
            await ask(openai_target(stub, client), "status:500")
        assert SECRET not in str(raised.value)
        for record in caplog.records:
            assert SECRET not in record.getMessage()
            assert SECRET not in str(record.__dict__)

    async def test_metadata_address_refused_before_any_request(self, client) -> None:
        target = HttpAgentTarget(
            "http://169.254.169.254/latest/meta-data/",
            TEMPLATE,
            {},
            {"Authorization": f"Bearer {SECRET}"},
            client=client,
            allow_private=True,
        )
        with pytest.raises(TargetError, match="egress") as raised:
            await ask(target, "echo:x", timeout_s=2)
        assert not raised.value.transient
        assert "link-local" in str(raised.value)

    async def test_loopback_refused_unless_private_targets_allowed(self, stub, client) -> None:
        served = stub.requests["/agent"]
        with pytest.raises(TargetError, match="egress"):
            await ask(http_target(stub, client, allow_private=False), "echo:x")
        assert stub.requests["/agent"] == served  # nothing was sent


class TestOpenAITarget:
    async def test_output_and_tokens(self, stub, client) -> None:
        seen = await ask(openai_target(stub, client), "echo:one two three")
        assert seen.output == "one two three"
        assert seen.output_tokens == 3
        assert stub.last_headers["/v1/chat/completions"]["authorization"] == f"Bearer {SECRET}"

    async def test_tool_calls_with_json_text_arguments(self, stub, client) -> None:
        seen = await ask(openai_target(stub, client), 'tool:lookup {"id": 7}')
        assert seen.tool_calls == [ToolCall("lookup", {"id": 7})]
        assert seen.output == ""

    async def test_errors(self, stub, client) -> None:
        target = openai_target(stub, client)
        with pytest.raises(TargetError, match="timed out") as raised:
            await ask(target, "sleep:3", timeout_s=0.3)
        assert not raised.value.transient
        with pytest.raises(TargetError, match="HTTP 500") as raised:
            await ask(target, "status:500")
        assert not raised.value.transient
        with pytest.raises(TargetError, match="HTTP 503") as raised:
            await ask(target, "status:503")
        assert raised.value.transient

    async def test_not_a_completion_is_an_error(self, stub, client) -> None:
        target = OpenAITarget(
            f"{stub.url}/agent/..", None, {}, {}, client=client, allow_private=True
        )
        # /agent/../chat/completions does not exist on the stub: 404, not a crash
        with pytest.raises(TargetError):
            await ask(target, "echo:x")


async def test_secret_scrubbed_before_truncation_and_in_every_form() -> None:
    """A secret straddling the 200-character cut, or echoed without its "Bearer " prefix or
    JSON-escaped, leaves no piece of itself in the error."""
    secret = 'tok"en-9f8e7d6c5b4a'
    bodies = [
        "x" * 190 + f"Bearer {secret} tail",  # the cut falls inside the secret
        f"invalid token {secret}",
        '{"auth": "Bearer tok\\"en-9f8e7d6c5b4a"}',
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text=bodies.pop(0))

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as mock:
        target = HttpAgentTarget(
            "http://127.0.0.1:9/agent",
            TEMPLATE,
            {},
            {"Authorization": f"Bearer {secret}"},
            client=mock,
            allow_private=True,
        )
        for _ in range(3):
            with pytest.raises(TargetError) as raised:
                await ask(target, "echo:x")
            message = str(raised.value)
            assert "9f8e7d" not in message
            assert "tok" not in message.replace("token", "")


async def test_malformed_secret_header_refused_without_echo(stub: StubAgent, client) -> None:
    """httpx refuses a header value with a line break and quotes it: the quote is scrubbed."""
    target = HttpAgentTarget(
        f"{stub.url}/agent",
        TEMPLATE,
        {},
        {"Authorization": f"Bearer {SECRET}\r\nX-Injected: 1"},
        client=client,
        allow_private=True,
    )
    with pytest.raises(TargetError, match="request failed") as raised:
        await ask(target, "echo:x")
    assert "5ecret" not in str(raised.value)
    assert not raised.value.transient


async def test_redirect_is_the_answer_not_followed(stub: StubAgent) -> None:
    """Even over a client that follows redirects, a 302 to the metadata address is an error
    and nothing is sent there."""
    async with httpx.AsyncClient(follow_redirects=True) as plain:
        target = HttpAgentTarget(
            f"{stub.url}/agent", TEMPLATE, {}, {}, client=plain, allow_private=True
        )
        with pytest.raises(TargetError, match="HTTP 302") as raised:
            await ask(target, "redirect:http://169.254.169.254/latest/meta-data/", timeout_s=3)
    assert not raised.value.transient
