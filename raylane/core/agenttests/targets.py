"""The things a case is asked of: an HTTP agent, an OpenAI-compatible endpoint, a project's
copilot, a registered model. Each implements :class:`~raylane.core.agenttests.types.Target`.

The HTTP targets call tenant-named URLs, so every call passes the egress rule first
(``infra/egress.py``); redirects are not followed (the client the host hands in should be
:func:`raylane.infra.egress.egress_client`). Secret header values (stored sealed, opened by the
host just before the run) are sent, and scrubbed from every error message this module builds,
even when the agent echoes them back in an error body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator
from contextlib import aclosing, contextmanager
from typing import Any

import httpx

from raylane.core.agenttests.types import Citation, Observation, TargetError, ToolCall
from raylane.core.copilot.engine import ChatRequest
from raylane.core.endpoints.configs import apply as apply_config
from raylane.core.guardrails.policy import DETECTOR_NAMES
from raylane.core.rbac import Actor
from raylane.errors import RateLimited, RaylaneError
from raylane.infra.egress import EgressDenied, check_url
from raylane.schemas.agent_tests import HttpTemplate

log = logging.getLogger("raylane.agenttests.targets")

MAX_ANSWER_BYTES = 8 * 1024 * 1024  # an agent's answer is text for assertions, not a download
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
_PLACEHOLDER = re.compile(r"\{\{\s*(input|messages|context|vars\.[A-Za-z0-9_.-]+)\s*\}\}")
# The copilot's redaction placeholders ("[EMAIL]", "[SECRET]" ...): see guardrails/detectors.py.
_REDACTED = re.compile(r"\[(?:" + "|".join(n.upper() for n in DETECTOR_NAMES) + r")\]")

Messages = list[dict[str, str]]


def _last_user(messages: Messages) -> tuple[str, Messages]:
    """The last user message's text and the turns before it."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return messages[i].get("content") or "", messages[:i]
    raise TargetError("the case has no user message")


# --- Templates --------------------------------------------------------------------------------


def render_template(
    body: Any, messages: Messages, *, variables: dict[str, Any], context: str | None
) -> Any:
    """``body`` with ``{{input}}``, ``{{messages}}``, ``{{context}}`` and ``{{vars.NAME}}``
    substituted in its strings (keys are left alone). A string that is exactly ``{{messages}}``
    becomes the list itself; elsewhere the list is written as JSON text.

    Raises:
        TargetError: the template names a variable the case does not set.
    """
    question, _ = _last_user(messages)

    def text_of(name: str) -> str:
        if name == "input":
            return question
        if name == "messages":
            return json.dumps(messages, ensure_ascii=False)
        if name == "context":
            return context or ""
        key = name.removeprefix("vars.")
        if key not in variables:
            raise TargetError(f"the template uses {{{{vars.{key}}}}}, which the case does not set")
        return str(variables[key])

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            if _PLACEHOLDER.fullmatch(value) and value.strip("{} ") == "messages":
                return [dict(m) for m in messages]
            return _PLACEHOLDER.sub(lambda m: text_of(m.group(1)), value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    return walk(body)


_MISSING = object()


def extract(value: Any, path: str) -> Any:
    """The value at a dotted ``path`` (list indexes as numbers, ``-1`` the last); ``_MISSING``
    when any step is absent."""
    for step in path.split("."):
        if isinstance(value, dict):
            value = value.get(step, _MISSING)
        elif isinstance(value, list) and re.fullmatch(r"-?\d+", step):
            index = int(step)
            value = value[index] if -len(value) <= index < len(value) else _MISSING
        else:
            return _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _tool_calls(raw: Any) -> list[ToolCall]:
    """``[{name, arguments}]``, or OpenAI's ``[{function: {name, arguments}}]``; arguments may be
    a JSON object or JSON text."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise TargetError(f"tool calls are not a list: {_as_text(raw)[:200]}")
    calls = []
    for item in raw:
        call = item.get("function", item) if isinstance(item, dict) else None
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise TargetError(f"a tool call has no name: {_as_text(item)[:200]}")
        arguments = call.get("arguments") or {}
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except ValueError as exc:
                raise TargetError(f"tool {call['name']!r}: arguments are not JSON") from exc
        if not isinstance(arguments, dict):
            raise TargetError(f"tool {call['name']!r}: arguments are not a JSON object")
        calls.append(ToolCall(name=call["name"], arguments=arguments))
    return calls


def _tokens(raw: Any) -> int | None:
    if isinstance(raw, bool) or raw is _MISSING or raw is None:
        return None
    if isinstance(raw, int | float):
        return int(raw)
    raise TargetError(f"the token count is not a number: {_as_text(raw)[:200]}")


# --- HTTP targets -----------------------------------------------------------------------------


class _HttpCaller:
    """One JSON request to a tenant-named URL: egress check, whole-call timeout, bounded body,
    error mapping, secrets scrubbed."""

    def __init__(
        self,
        headers: dict[str, str],
        secret_headers: dict[str, str],
        *,
        client: httpx.AsyncClient,
        allow_private: bool,
    ) -> None:
        self._headers = {**headers, **secret_headers}
        self._secrets = _secret_forms(secret_headers.values())
        self._client, self._allow_private = client, allow_private

    def scrub(self, text: str) -> str:
        """``text`` with every form of every secret value replaced by ``[SECRET]``."""
        for secret in self._secrets:
            text = text.replace(secret, "[SECRET]")
        return text

    @contextmanager
    def _errors(self, timeout_s: float) -> Iterator[None]:
        """Every failure as a TargetError whose message holds no secret value."""
        try:
            yield
        except TargetError as exc:
            raise TargetError(self.scrub(str(exc)), transient=exc.transient) from None
        except EgressDenied as exc:
            raise TargetError(f"refused by the egress rule: {self.scrub(str(exc))}") from None
        except (TimeoutError, httpx.TimeoutException):
            raise TargetError(f"timed out after {timeout_s:g}s") from None
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            # Refused, reset or dropped before an answer: the agent may be restarting.
            message = self.scrub(f"{type(exc).__name__}: {exc}")
            raise TargetError(f"connection failed: {message}", transient=True) from None
        except httpx.HTTPError as exc:
            message = self.scrub(f"{type(exc).__name__}: {exc}")
            raise TargetError(f"request failed: {message}") from None

    async def call(
        self, method: str, url: str, body: Any, *, timeout_s: float
    ) -> tuple[Any, str, float]:
        """The answer's JSON (``None`` when it is not JSON), its text, and the latency in ms
        from sending the request to having the whole body."""
        with self._errors(timeout_s):
            async with asyncio.timeout(timeout_s):
                await check_url(url, allow_private=self._allow_private)
                started = time.perf_counter()
                request = self._client.build_request(
                    method, url, json=body, headers=self._headers, timeout=timeout_s
                )
                # Never follow a redirect, whatever the client says: the 3xx is the answer.
                response = await self._client.send(request, stream=True, follow_redirects=False)
                try:
                    raw = await _read_bounded(response)
                finally:
                    await response.aclose()
                latency_ms = (time.perf_counter() - started) * 1000
            # The URL is the tenant's own; headers (secrets among them) are never logged.
            log.debug(
                "agent answered",
                extra={"url": url, "status": response.status_code, "latency_ms": latency_ms},
            )
            text = raw.decode(response.encoding or "utf-8", errors="replace")
            if not response.is_success:
                status = response.status_code
                raise TargetError(
                    f"HTTP {status}: {self.scrub(text)[:200]}",
                    transient=status in TRANSIENT_STATUSES,
                )
            try:
                data = json.loads(text) if text.strip() else None
            except ValueError:
                data = None
            return data, text, latency_ms
        raise AssertionError("unreachable")  # for type checkers: _errors always raises or returns


def _secret_forms(values: Iterable[str]) -> list[str]:
    """Each secret value as an agent or a library might echo it: whole, JSON- or repr-escaped,
    and each long enough word of it (``Bearer sk-...`` echoed as ``invalid token sk-...``);
    longest first."""
    forms: set[str] = set()
    for value in values:
        for form in (value, json.dumps(value)[1:-1], repr(value)[1:-1], *value.split()):
            if len(form) >= 8 or form == value:
                forms.add(form)
    return sorted((f for f in forms if f), key=len, reverse=True)


async def _read_bounded(response: httpx.Response) -> bytes:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise TargetError(f"the answer is larger than {MAX_ANSWER_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class HttpAgentTarget:
    """Any JSON-over-HTTP agent, called as its :class:`HttpTemplate` says."""

    def __init__(
        self,
        url: str,
        template: HttpTemplate,
        headers: dict[str, str],
        secret_headers: dict[str, str],
        *,
        client: httpx.AsyncClient,
        allow_private: bool,
    ) -> None:
        self.url, self.template = url, template
        self._http = _HttpCaller(
            headers, secret_headers, client=client, allow_private=allow_private
        )

    async def answer(
        self,
        messages: Messages,
        *,
        variables: dict[str, Any],
        context: str | None,
        timeout_s: float,
    ) -> Observation:
        body = render_template(self.template.body, messages, variables=variables, context=context)
        data, text, latency_ms = await self._http.call(
            self.template.method, self.url, body, timeout_s=timeout_s
        )
        path = self.template.output
        if not path:
            output = text
        else:
            if data is None:
                raise TargetError(f"the answer is not JSON: {self._http.scrub(text)[:200]}")
            found = extract(data, path)
            if found is _MISSING or found is None:
                raise TargetError(f"the answer has no {path!r}: {self._http.scrub(text)[:200]}")
            output = _as_text(found)
        calls: list[ToolCall] = []
        tokens = None
        if data is not None and self.template.tool_calls:
            found = extract(data, self.template.tool_calls)
            calls = _tool_calls(None if found is _MISSING else found)
        if data is not None and self.template.tokens:
            tokens = _tokens(extract(data, self.template.tokens))
        return Observation(
            output=output, latency_ms=latency_ms, output_tokens=tokens, tool_calls=calls
        )


class OpenAITarget:
    """An OpenAI-compatible chat endpoint (vLLM, Ray Serve LLM, a hosted API), non-streaming:
    ``POST {base_url}/chat/completions``."""

    def __init__(
        self,
        base_url: str,
        model: str | None,
        headers: dict[str, str],
        secret_headers: dict[str, str],
        *,
        client: httpx.AsyncClient,
        allow_private: bool,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self._http = _HttpCaller(
            headers, secret_headers, client=client, allow_private=allow_private
        )

    async def answer(
        self,
        messages: Messages,
        *,
        variables: dict[str, Any],
        context: str | None,
        timeout_s: float,
    ) -> Observation:
        body: dict[str, Any] = {"messages": [dict(m) for m in messages], "stream": False}
        if self.model:
            body["model"] = self.model
        data, text, latency_ms = await self._http.call("POST", self.url, body, timeout_s=timeout_s)
        message = extract(data, "choices.0.message") if data is not None else _MISSING
        if not isinstance(message, dict):
            raise TargetError(
                f"not a chat completion (no choices.0.message): {self._http.scrub(text)[:200]}"
            )
        content = message.get("content")
        calls = _tool_calls(message.get("tool_calls"))
        if content is None and not calls:
            raise TargetError("the completion has neither content nor tool calls")
        return Observation(
            output=_as_text(content) if content is not None else "",
            latency_ms=latency_ms,
            output_tokens=_tokens(extract(data, "usage.completion_tokens")),
            tool_calls=calls,
        )


# --- Platform targets -------------------------------------------------------------------------

Chat = Callable[[Actor, ChatRequest], AsyncGenerator[dict[str, Any], None]]


class CopilotTarget:
    """A project's copilot, asked in-process through ``CopilotEngine.chat`` (or anything with
    its signature). Turns are not stored: a test run leaves no conversations behind.
    ``config``: a copilot configuration version's spec, applied to every question."""

    def __init__(
        self,
        chat: Chat,
        actor: Actor,
        project_id: uuid.UUID,
        *,
        collection_ids: list[uuid.UUID] | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        self._chat, self._actor, self._project_id = chat, actor, project_id
        self._collection_ids = list(collection_ids or [])
        self._config = config

    async def answer(
        self,
        messages: Messages,
        *,
        variables: dict[str, Any],
        context: str | None,
        timeout_s: float,
    ) -> Observation:
        question, history = _last_user(messages)
        request = ChatRequest(
            question=question,
            project_id=self._project_id,
            history=[{"role": m["role"], "content": m["content"]} for m in history],
            collection_ids=self._collection_ids,
            store=False,
        )
        if self._config is not None:
            request = apply_config(request, self._config)
        seen = _CopilotAnswer()
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                async with aclosing(self._chat(self._actor, request)) as events:
                    async for event in events:
                        if seen.take(event):
                            break
        except TimeoutError:
            raise TargetError(f"timed out after {timeout_s:g}s") from None
        except RateLimited as exc:
            raise TargetError(f"copilot: {exc.detail}", transient=True) from None
        except RaylaneError as exc:  # ServiceUnavailable, NotFound, InvalidInput ...
            raise TargetError(f"copilot: {exc.code}: {exc.detail}") from None
        return seen.observation((time.perf_counter() - started) * 1000)


class _CopilotAnswer:
    """What a copilot's event stream said, event by event."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.citations: list[Citation] = []
        self.completion_tokens: int | None = None
        self.input_blocked = self.output_blocked = False
        self.redacted_flag: bool | None = None
        self.ended = False

    def take(self, event: dict[str, Any]) -> bool:
        """Record one event; True when the stream has ended."""
        kind = event.get("type")
        if kind == "token":
            self.tokens.append(str(event.get("text") or ""))
        elif kind == "citations":
            self.citations = [
                Citation(
                    index=int(c.get("index", i)),
                    document_id=c.get("document_id"),
                    document_name=c.get("document_name"),
                )
                for i, c in enumerate(event.get("citations") or [], 1)
            ]
        elif kind == "blocked":
            # A block at the input stage means no answer; at the output stage the answer was
            # withheld by the output guardrails, which the guardrail assertion reads as
            # "output redacted".
            if event.get("stage") == "input":
                self.input_blocked = True
            else:
                self.output_blocked = True
            self.ended = True
        elif kind == "done":
            usage = event.get("usage") or {}
            self.completion_tokens = _tokens(usage.get("completion_tokens"))
            guard = event.get("guardrails") or {}
            flag = event.get("redacted", guard.get("output_redacted"))
            self.redacted_flag = bool(flag) if flag is not None else None
            self.ended = True
        elif kind == "error":
            raise TargetError(f"copilot: {event.get('error')}: {event.get('detail')}")
        return self.ended

    def observation(self, latency_ms: float) -> Observation:
        if not self.ended:
            raise TargetError("the copilot's answer ended without a done event")
        output = "".join(self.tokens)
        # The done event does not say whether the stream redactor replaced anything; its
        # placeholders in the text do (unless the engine reports it, which wins).
        redacted = (
            self.redacted_flag if self.redacted_flag is not None else bool(_REDACTED.search(output))
        )
        return Observation(
            output=output,
            latency_ms=latency_ms,
            output_tokens=self.completion_tokens,
            citations=self.citations,
            input_blocked=self.input_blocked,
            output_redacted=redacted or self.output_blocked,
        )


Predict = Callable[[Any, list[str]], Awaitable[list[dict[str, Any]]]]


class ModelTarget:
    """A registered classifier version: the output is the label it predicts for the last user
    message. ``predict`` is ``Predictor.predict`` (``serve/models.py``: ``LocalModels`` or
    ``ServeModels``), called as ``predict(ref, [text])``; ``ref`` the version's ``ModelRef``."""

    def __init__(self, predict: Predict, ref: Any) -> None:
        self._predict, self._ref = predict, ref

    async def answer(
        self,
        messages: Messages,
        *,
        variables: dict[str, Any],
        context: str | None,
        timeout_s: float,
    ) -> Observation:
        question, _ = _last_user(messages)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                predictions = await self._predict(self._ref, [question])
        except TimeoutError:
            raise TargetError(f"timed out after {timeout_s:g}s") from None
        except RateLimited as exc:
            raise TargetError(f"model: {exc.detail}", transient=True) from None
        except RaylaneError as exc:
            raise TargetError(f"model: {exc.code}: {exc.detail}") from None
        latency_ms = (time.perf_counter() - started) * 1000
        if not predictions or not isinstance(predictions[0], dict) or "label" not in predictions[0]:
            raise TargetError("the model returned no prediction")
        return Observation(output=str(predictions[0]["label"]), latency_ms=latency_ms)
