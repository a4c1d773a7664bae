"""Serving registered classifiers: many small tenant models on few replicas.

``ModelServer`` is a Serve deployment whose replicas load model versions on demand and keep the
most recently used ones (``serve.multiplexed``, an LRU per replica); requests carry the version
id as their multiplexed model id, so Serve routes them to a replica that already holds it.
``LocalModels`` is the same LRU in-process, for ``create_app`` without Serve (tests, one box).
Both answer through :class:`Predictor`, which the predict route is handed. A ``minilm-frozen``
version is a small head over the one bundled encoder every such version shares; a
``minilm-finetuned`` version loads its own encoder (~90 MB), which the LRU holds with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any, Protocol

from ray import serve

from raylane.core.training.classifier import Classifier, load_model
from raylane.core.training.tracking import ModelRef, read_artifact

log = logging.getLogger(__name__)

# Versions per replica: a frozen head is ~10 kB over the shared ~90 MB encoder; a fine-tuned
# version carries its own ~90 MB encoder, so eight of them hold ~0.7 GB.
DEFAULT_LRU_SIZE = 8


class Predictor(Protocol):
    async def predict(self, ref: ModelRef, texts: list[str]) -> list[dict[str, Any]]:
        """For each text: ``{"label", "probabilities": {label: p}}``."""
        ...


def _classify(model: Classifier, texts: list[str]) -> list[dict[str, Any]]:
    probs = model.predict_texts(texts)
    return [
        {
            "label": model.labels[int(row.argmax())],
            "probabilities": {label: float(p) for label, p in zip(model.labels, row, strict=True)},
        }
        for row in probs
    ]


async def _load(artifact_key: str) -> Classifier:
    data = await read_artifact(artifact_key)
    # A fine-tuned artifact is ~90 MB of tensors: parse it off the event loop.
    return await asyncio.to_thread(load_model, data)


class LocalModels:
    """An in-process LRU of loaded versions, keyed by version id."""

    def __init__(self, capacity: int = DEFAULT_LRU_SIZE) -> None:
        self._capacity = capacity
        self._models: OrderedDict[str, Classifier] = OrderedDict()
        self.loads = 0  # how many artifacts were read (a cache miss each)

    async def predict(self, ref: ModelRef, texts: list[str]) -> list[dict[str, Any]]:
        model = self._models.get(ref.version_id)
        if model is None:
            model = await _load(ref.artifact_key)
            self.loads += 1
            self._models[ref.version_id] = model
            while len(self._models) > self._capacity:
                self._models.popitem(last=False)
        self._models.move_to_end(ref.version_id)
        return await asyncio.to_thread(_classify, model, texts)


@serve.deployment(name="ModelServer", health_check_period_s=10)
class ModelServer:
    """Replicas hold up to ``lru_size`` versions; the rest load on demand."""

    def __init__(self, lru_size: int = DEFAULT_LRU_SIZE) -> None:
        self._keys: dict[str, str] = {}  # version id -> artifact key, learned from requests

        async def load(version_id: str) -> Classifier:
            return await _load(self._keys[version_id])

        # Wired at init so the LRU size is the app's argument, not a constant at import.
        self._model = serve.multiplexed(max_num_models_per_replica=lru_size)(load)

    async def predict(self, artifact_key: str, texts: list[str]) -> list[dict[str, Any]]:
        version_id = serve.get_multiplexed_model_id()
        self._keys[version_id] = artifact_key
        model = await self._model(version_id)
        return await asyncio.to_thread(_classify, model, texts)


class ServeModels:
    """The predict route's side of ``ModelServer``: routes each call by version id."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    async def predict(self, ref: ModelRef, texts: list[str]) -> list[dict[str, Any]]:
        handle = self._handle.options(multiplexed_model_id=ref.version_id)
        result: list[dict[str, Any]] = await handle.predict.remote(ref.artifact_key, texts)
        return result
