"""The Embedder deployment: query embeddings with request batching, reused by search and copilot."""

from __future__ import annotations

import asyncio

from ray import serve

from raylane.config import get_settings
from raylane.infra import embeddings


@serve.deployment(name="Embedder")
class Embedder:
    """Loads each allowed model once per replica; concurrent requests share one forward pass."""

    def __init__(self) -> None:
        self._settings = get_settings()

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def _embed(self, items: list[tuple[str, str]]) -> list[list[float]]:
        by_model: dict[str, list[int]] = {}
        for i, (model, _) in enumerate(items):
            by_model.setdefault(model, []).append(i)
        out: list[list[float]] = [[] for _ in items]
        for model, idx in by_model.items():
            vectors = await asyncio.to_thread(self._encode, model, [items[i][1] for i in idx])
            for i, vector in zip(idx, vectors, strict=True):
                out[i] = vector
        return out

    def _encode(self, model: str, texts: list[str]) -> list[list[float]]:
        # By name: the collection's model picks the backend, as in the ingest job, so queries
        # and chunks of an int8 collection are embedded alike.
        encoder = embeddings.load_named(model, self._settings, self._settings.embeddings.threads)
        return embeddings.encode(encoder, texts, batch_size=len(texts))

    async def embed(self, model: str, text: str) -> list[float]:
        """One unit-length vector for ``text`` under the named model."""
        return await self._embed((model, text))
