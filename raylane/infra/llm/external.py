"""The LLM endpoints tenants name in copilot configurations, as backends.

A configuration's ``llm`` (stored by ``core/endpoints/configs.py``) names an OpenAI-compatible
endpoint, a model and a sealed API key. :class:`ExternalBackends` opens the key and builds the
backend once per (URL, model, key, timeout), keeping the most recently used few; every request
such a backend sends passes the egress rule with the operator's ``allow_private_llm``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from raylane.config import Settings
from raylane.errors import InvalidInput
from raylane.infra.llm.base import LLMBackend
from raylane.infra.secrets import open_sealed

SEALED_KEY = "api_key_sealed"
CACHED = 32  # backends kept; one is a URL, headers and a timeout (clients are per stream)


class ExternalBackends:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings  # read at each build: the operator's egress setting
        self._cache: OrderedDict[tuple[Any, ...], LLMBackend] = OrderedDict()

    def __call__(self, choice: dict[str, Any]) -> LLMBackend:
        """The backend for a stored LLM choice.

        Raises:
            InvalidInput: a backend this host does not know.
            SecretUnreadable: the key was sealed under another platform key.
        """
        if choice.get("backend") != "openai":
            raise InvalidInput(f"unknown LLM backend {choice.get('backend')!r}")
        from raylane.infra.llm.openai_compat import OpenAICompatBackend

        allow_private = self._settings.copilot.allow_private_llm
        key = (
            choice["base_url"],
            choice["model"],
            choice.get(SEALED_KEY),
            float(choice.get("timeout_s", 60.0)),
            allow_private,
        )
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            return found
        sealed = choice.get(SEALED_KEY)
        backend = OpenAICompatBackend(
            choice["base_url"],
            choice["model"],
            api_key=open_sealed(sealed) if sealed else None,
            timeout=float(choice.get("timeout_s", 60.0)),
            max_retries=self._settings.llm.max_retries,
            allow_private=allow_private,
        )
        self._cache[key] = backend
        while len(self._cache) > CACHED:
            self._cache.popitem(last=False)
        return backend
