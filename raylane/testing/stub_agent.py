"""A tiny HTTP agent with known answers, for tests and the agent-tests benchmark.

``with StubAgent(delay_s=0.05) as url:`` serves it with uvicorn on 127.0.0.1 (a free port) in a
background thread. What it answers is picked by the input text (the last user message), so one
stub serves a whole suite with known verdicts:

==========================  =====================================================
``echo:<text>``             answers ``<text>``
``json:<json>``             answers that JSON (as the output string)
``tool:<name> <json-args>`` answers with a call of tool ``<name>`` (output empty)
``sleep:<seconds>``         sleeps, then answers ``slept <seconds>``
``status:<code>``           answers that HTTP status (the body echoes the request's
                            headers, like a careless agent would)
``redirect:<url>``          answers 302 to ``<url>``
``flaky:<key>``             503 the first time ``<key>`` is seen, then ``ok: <key>``
anything else               ``ok: <input>``
==========================  =====================================================

On ``/v1/chat/completions`` a ``model`` of ``says:<text>`` answers ``<text>`` whatever the input
(a known answer for an LLM behind the copilot, whose input is the platform's prompt), and
``"stream": true`` answers as server-sent chunks, one per word, then the usage and ``[DONE]``.
``last_bodies`` holds the latest request body per path.

Two shapes: ``POST /agent`` takes ``{"input": ..., "messages": [...]}`` (either) and answers
``{"output", "tool_calls": [{name, arguments}], "usage": {"output_tokens"}}``;
``POST /v1/chat/completions`` speaks the OpenAI chat-completions shape (tool-call arguments as
JSON text, ``usage.completion_tokens``). Every answer comes after ``delay_s``. ``requests``
counts requests per path; ``last_headers`` holds the latest request's headers per path.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class _Reply:
    status: int = 200
    output: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    location: str | None = None


def _last_user(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return str(message.get("content") or "")
    return str(body.get("input") or "")


async def _chunks(text: str) -> AsyncIterator[str]:
    """``text`` as OpenAI chat-completion chunks: a word each, then the usage, then done."""
    words = text.split(" ")
    for i, word in enumerate(words):
        delta = {"content": word if i == 0 else " " + word}
        chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}
        yield f"data: {json.dumps(chunk)}\n\n"
    last = {"index": 0, "delta": {}, "finish_reason": "stop"}
    usage = {"prompt_tokens": 1, "completion_tokens": len(words), "total_tokens": 1 + len(words)}
    yield f"data: {json.dumps({'choices': [last], 'usage': usage})}\n\n"
    yield "data: [DONE]\n\n"


def _error(body: dict[str, Any], reply: _Reply) -> JSONResponse:
    headers = {"Location": reply.location} if reply.location else None
    return JSONResponse(body, status_code=reply.status, headers=headers)


class StubAgent:
    """The stub's state and app; a context manager that serves it and yields its base URL."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.requests: Counter[str] = Counter()
        self.last_headers: dict[str, dict[str, str]] = {}
        self.last_bodies: dict[str, dict[str, Any]] = {}
        self._flaky_seen: set[str] = set()
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/agent", self._agent, methods=["POST", "PUT"]),
                Route("/v1/chat/completions", self._openai, methods=["POST"]),
            ]
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # --- behaviour ----------------------------------------------------------------------------

    async def _decide(self, text: str, headers: dict[str, str]) -> _Reply:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        verb, _, rest = text.partition(":")
        if verb == "echo":
            return _Reply(output=rest)
        if verb == "json":
            return _Reply(output=rest)
        if verb == "tool":
            name, _, args = rest.strip().partition(" ")
            return _Reply(tool_calls=[{"name": name, "arguments": json.loads(args or "{}")}])
        if verb == "sleep":
            await asyncio.sleep(float(rest))
            return _Reply(output=f"slept {rest}")
        if verb == "status":
            return _Reply(status=int(rest), error={"request_headers": headers, "error": "as asked"})
        if verb == "redirect":
            return _Reply(status=302, error={"error": "moved"}, location=rest)
        if verb == "flaky":
            with self._lock:
                first = rest not in self._flaky_seen
                self._flaky_seen.add(rest)
            if first:
                return _Reply(status=503, error={"error": "warming up"})
            return _Reply(output=f"ok: {rest}")
        return _Reply(output=f"ok: {text}")

    async def _read(self, request: Request) -> tuple[dict[str, Any], dict[str, str]]:
        path = request.url.path
        headers = dict(request.headers)
        with self._lock:
            self.requests[path] += 1
            self.last_headers[path] = headers
        body = await request.json()
        body = body if isinstance(body, dict) else {}
        with self._lock:
            self.last_bodies[path] = body
        return body, headers

    async def _agent(self, request: Request) -> JSONResponse:
        body, headers = await self._read(request)
        reply = await self._decide(_last_user(body), headers)
        if reply.error is not None:
            return _error(reply.error, reply)
        return JSONResponse(
            {
                "output": reply.output,
                "tool_calls": reply.tool_calls,
                "usage": {"output_tokens": len(reply.output.split())},
            }
        )

    async def _openai(self, request: Request) -> Response:
        body, headers = await self._read(request)
        model = str(body.get("model") or "")
        if model.startswith("says:"):
            reply = await self._decide("echo:" + model.removeprefix("says:"), headers)
        else:
            reply = await self._decide(_last_user(body), headers)
        if reply.error is not None:
            return _error({"error": reply.error}, reply)
        if body.get("stream"):
            return StreamingResponse(_chunks(reply.output), media_type="text/event-stream")
        message: dict[str, Any] = {"role": "assistant", "content": reply.output}
        if reply.tool_calls:
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
                }
                for i, c in enumerate(reply.tool_calls)
            ]
        return JSONResponse(
            {
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model") or "stub",
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": 1,
                    "completion_tokens": len(reply.output.split()),
                    "total_tokens": 1 + len(reply.output.split()),
                },
            }
        )

    # --- serving ------------------------------------------------------------------------------

    def start(self) -> str:
        """Serve on 127.0.0.1 and a free port; returns the base URL once it accepts requests."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))  # the port is ours from here on: no race for a free one
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off", backlog=2048
        )
        self._server = server = uvicorn.Server(config)
        self._thread = thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="stub-agent", daemon=True
        )
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the stub agent did not start")
            thread.join(0.01)
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
