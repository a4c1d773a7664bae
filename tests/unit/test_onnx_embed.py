"""The int8 backend: the bundled model through ONNX Runtime, close to fp32, made once, by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from raylane.infra import embeddings, onnx_embed

TEXTS = [
    "The auditor reviewed the quarterly ledger and found the dividend overstated.",
    "Fold the butter into the flour, then let the dough rest in a cool kitchen.",
    "Ribosomes translate messenger RNA into the protein chains a cell needs." * 6,
    "Deploy the container behind the load balancer and watch the request latency.",
    "hi",
    "Der Zug nach München fährt um acht Uhr vom Hauptbahnhof ab.",
    "Over the last decade, the careful ledger of the auditor reduces every dividend by about"
    " 40 percent when the lender changes the portfolio of the bank. " * 12,  # truncated at 256
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def int8(cache: Path) -> Any:
    return onnx_embed.load(str(embeddings.default_model_dir()), str(cache), 1)


def test_int8_vectors_are_close_to_fp32_per_text(int8: Any) -> None:
    fp32 = embeddings.load(str(embeddings.default_model_dir()))
    want = fp32.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    got = int8.encode(TEXTS, batch_size=3)
    assert got.shape == want.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    cosine = (got * want).sum(axis=1)
    assert cosine.min() >= 0.98, cosine


def test_batchmates_barely_move_a_vector(int8: Any) -> None:
    # Activations are quantized per batch, so a text's vector depends a little on the texts
    # beside it: a query embedded alone must still land where its chunk, embedded in a batch, is.
    alone = np.stack([int8.encode([t])[0] for t in TEXTS])
    batched = int8.encode(TEXTS, batch_size=4)
    cosine = (alone * batched).sum(axis=1)
    assert cosine.min() >= 0.97, cosine  # ~0.976 for "hi" batched with long texts
    assert int8.encode([]).shape == (0, 384)


def test_the_file_is_made_once_and_reused(
    cache: Path, int8: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = embeddings.default_model_dir()
    made = list(cache.glob("*-int8.onnx"))
    assert len(made) == 1 and not list(cache.glob(".export-*"))  # no leftovers

    def no_export(*_: Any) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_embed, "_export", no_export)
    assert onnx_embed.quantized_model(model_dir, cache) == made[0]


def test_int8_is_an_allowed_name_with_the_same_width_and_tokenizer(tmp_path: Path) -> None:
    from raylane.config import Settings

    settings = Settings(data_dir=tmp_path)
    assert embeddings.BUILTIN_INT8 in embeddings.names(settings)
    assert embeddings.resolve(embeddings.BUILTIN_INT8, settings) == embeddings.resolve(
        embeddings.BUILTIN, settings
    )
    assert embeddings.dimensions(embeddings.BUILTIN_INT8, settings) == 384
