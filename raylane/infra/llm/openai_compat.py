"""Any OpenAI-compatible chat endpoint (vLLM, Ray Serve LLM, a hosted API), streamed over SSE.

Connection failures, 429 and 5xx answers are retried with exponential backoff until the first
token arrives; after that a failure ends the stream with an error (a retry would repeat text).

What the endpoint answers on failure (its body, its exception text: hosts, paths, internal
details) goes to the log only; callers get ``ServiceUnavailable`` with a fixed message.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx

from raylane.config import Settings
from raylane.errors import InvalidInput, ServiceUnavailable
from raylane.infra.egress import EgressDenied, egress_client
from raylane.infra.llm.base import Delta, GenerationParams, Usage

log = logging.getLogger(__name__)

RETRYABLE = {429, 500, 502, 503, 504}
UNAVAILABLE = "LLM endpoint unavailable; try again shortly"
BROKEN_STREAM = "LLM endpoint failed mid-answer"


class OpenAICompatBackend:
    """``allow_private``: None for the operator's own endpoint (settings); a bool for a
    tenant-named one, whose every request then passes the egress rule (``infra/egress.py``)
    with private addresses allowed or not."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None,
        timeout: float,
        max_retries: int,
        allow_private: bool | None = None,
    ) -> None:
        self.model_name = model
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self._retries = max_retries
        self._allow_private = allow_private

    def _client(self) -> httpx.AsyncClient:
        if self._allow_private is None:
            return httpx.AsyncClient(timeout=self._timeout, headers=self._headers)
        return egress_client(
            allow_private=self._allow_private, timeout=self._timeout, headers=self._headers
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAICompatBackend:
        llm = settings.llm
        if not llm.base_url or not llm.openai_model:
            raise InvalidInput("the openai backend needs RAYLANE_LLM__BASE_URL and __OPENAI_MODEL")
        key = llm.api_key.get_secret_value() if llm.api_key else None
        return cls(
            llm.base_url,
            llm.openai_model,
            api_key=key,
            timeout=llm.timeout_s,
            max_retries=llm.max_retries,
        )

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)  # the remote tokenizer is unknown: ~4 characters a token

    async def stream(
        self, messages: list[dict[str, str]], params: GenerationParams
    ) -> AsyncIterator[Delta]:
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": messages,
            "stream": True,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "stream_options": {"include_usage": True},
        }
        if params.stop:
            body["stop"] = params.stop
        if params.json_schema is not None:  # the server constrains the output to the schema
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": params.json_schema},
            }
        async with self._client() as client:
            response = await self._open(client, body)
            try:
                async for delta in self._deltas(response, messages):
                    yield delta
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                log.warning("LLM stream from %s broke: %s: %s", self._url, type(exc).__name__, exc)
                raise ServiceUnavailable(BROKEN_STREAM) from None
            finally:
                await response.aclose()

    async def _open(self, client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
        for attempt in range(self._retries + 1):
            if attempt:
                await asyncio.sleep(min(0.5 * 2 ** (attempt - 1), 8.0))
            try:
                response = await client.send(
                    client.build_request("POST", self._url, json=body), stream=True
                )
            except EgressDenied as exc:  # the address is refused: retrying will not help
                log.warning("LLM endpoint %s refused by the egress rule: %s", self._url, exc)
                break
            except httpx.HTTPError as exc:
                log.warning(
                    "LLM endpoint %s unreachable (attempt %d): %s: %s",
                    self._url,
                    attempt + 1,
                    type(exc).__name__,
                    exc,
                )
                continue
            if response.status_code < 300:  # a redirect is not followed: a failure
                return response
            try:
                upstream = (await response.aread())[:2000]
            except httpx.HTTPError:
                upstream = b"<unreadable>"
            finally:
                await response.aclose()
            log.warning(
                "LLM endpoint %s answered HTTP %d (attempt %d): %r",
                self._url,
                response.status_code,
                attempt + 1,
                upstream,
            )
            if response.status_code not in RETRYABLE:
                break
        raise ServiceUnavailable(UNAVAILABLE)

    async def _deltas(
        self, response: httpx.Response, messages: list[dict[str, str]]
    ) -> AsyncIterator[Delta]:
        usage, reason, produced = None, "stop", 0
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            event = json.loads(data)
            if event.get("usage"):
                u = event["usage"]
                usage = Usage(int(u.get("prompt_tokens", 0)), int(u.get("completion_tokens", 0)))
            for choice in event.get("choices", []):
                text = (choice.get("delta") or {}).get("content") or ""
                reason = choice.get("finish_reason") or reason
                if text:
                    produced += 1
                    yield Delta(text)
        if usage is None:  # the server sent no usage: estimate
            prompt = sum(self.count_tokens(m.get("content", "")) for m in messages)
            usage = Usage(prompt, produced)
        yield Delta("", finish_reason=reason, usage=usage)
