"""JSON under a schema (``GenerationParams.json_schema``): the real SmolLM2 through llama.cpp is
held to the schema by a grammar; an OpenAI-compatible server is asked for it with
``response_format``. Also the llama.cpp backend's repetition penalty and its plain template for
models that ship none."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema
import pytest

from raylane.config import Settings
from raylane.infra.llm.base import GenerationParams
from raylane.infra.llm.llamacpp import LlamaCppBackend
from raylane.infra.llm.openai_compat import OpenAICompatBackend

VERDICT = {
    "type": "object",
    "properties": {
        "score": {"type": "number"},  # bounds are not grammar: a judge checks them after parsing
        "reasoning": {"type": "string", "maxLength": 200},
    },
    "required": ["score", "reasoning"],
    "additionalProperties": False,
}


async def _text(backend: Any, messages: list[dict[str, str]], params: GenerationParams) -> str:
    return "".join([d.text async for d in backend.stream(messages, params)])


@pytest.fixture(scope="module")
def smollm2(services: Settings) -> LlamaCppBackend:
    return LlamaCppBackend.from_settings(services)


async def test_llamacpp_output_is_json_valid_under_the_schema(smollm2: LlamaCppBackend) -> None:
    messages = [
        {"role": "system", "content": "You grade answers. Reply with a score and a reason."},
        {"role": "user", "content": "Rubric: names a colour. Answer: 'The sky is blue.'"},
    ]
    free = await _text(smollm2, messages, GenerationParams(max_tokens=48, temperature=0))
    constrained = await _text(
        smollm2, messages, GenerationParams(max_tokens=160, temperature=0, json_schema=VERDICT)
    )
    jsonschema.validate(json.loads(constrained), VERDICT)  # parses, and holds to the schema
    with pytest.raises((ValueError, jsonschema.ValidationError)):  # what the grammar prevents
        jsonschema.validate(json.loads(free), VERDICT)


def test_the_bundled_model_is_marked_and_penalises_repeats(services: Settings) -> None:
    bundled = LlamaCppBackend.from_settings(services)
    assert bundled.bundled and bundled.repeat_penalty == services.llm.repeat_penalty > 1.0
    other = services.llm.model_copy(update={"model_path": str(bundled.model_path)})
    assert not LlamaCppBackend.from_settings(services.model_copy(update={"llm": other})).bundled


class _Upstream(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        _Upstream.bodies.append(json.loads(self.rfile.read(length)))
        chunk = {"choices": [{"delta": {"content": '{"score": 1}'}, "finish_reason": None}]}
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Upstream.bodies.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


async def test_openai_compatible_servers_get_response_format(upstream: str) -> None:
    backend = OpenAICompatBackend(upstream, "remote", api_key=None, timeout=10, max_retries=0)
    messages = [{"role": "user", "content": "Grade it."}]
    assert await _text(backend, messages, GenerationParams(json_schema=VERDICT)) == '{"score": 1}'
    await _text(backend, messages, GenerationParams())
    constrained, free = _Upstream.bodies
    assert constrained["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": VERDICT},
    }
    assert "response_format" not in free
