"""The llama.cpp backend opens its model once, whichever thread asks first (guardrail checks
count tokens in worker threads while a generation may be starting in another)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from raylane.infra.llm.llamacpp import LlamaCppBackend


def test_concurrent_first_uses_open_the_model_once(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = LlamaCppBackend(
        Path("model.gguf"), model_name="m", context=512, threads=1, repeat_penalty=1.0
    )
    opened: list[int] = []
    all_waiting = threading.Barrier(8)

    def slow_open() -> Any:
        opened.append(threading.get_ident())
        time.sleep(0.05)  # a model load: long enough for every other thread to arrive
        return object()

    monkeypatch.setattr(backend, "_open", slow_open)

    def first_use() -> Any:
        all_waiting.wait()
        return backend.load()

    with ThreadPoolExecutor(8) as pool:
        models = list(pool.map(lambda _: first_use(), range(8)))
    assert len(opened) == 1
    assert all(m is models[0] for m in models)
