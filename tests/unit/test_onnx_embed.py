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
    # Feed-forward kept fp32: >= 0.997 here; all weight MatMuls in int8 gave 0.985, and cost
    # recall@10 against fp32 search (0.93 instead of 0.98 on the development corpus).
    assert cosine.min() >= 0.995, cosine


def test_batchmates_barely_move_a_vector(int8: Any) -> None:
    # Activations are quantized per batch, so a text's vector depends a little on the texts
    # beside it: a query embedded alone must still land where its chunk, embedded in a batch, is.
    alone = np.stack([int8.encode([t])[0] for t in TEXTS])
    batched = int8.encode(TEXTS, batch_size=4)
    cosine = (alone * batched).sum(axis=1)
    # ~0.997 for "hi" batched with long texts; 0.976 when the feed-forward MatMuls were int8 too
    assert cosine.min() >= 0.99, cosine
    assert int8.encode([]).shape == (0, 384)


def test_only_the_attention_projections_are_int8_in_a_fused_graph(cache: Path, int8: Any) -> None:
    import onnx

    (path,) = cache.glob("*-int8.onnx")
    nodes = onnx.load(str(path)).graph.node
    ops = [node.op_type for node in nodes]
    int8_nodes = [node.name for node in nodes if node.op_type == "MatMulInteger"]
    # Six layers x (query, key, value, output projection); no feed-forward MatMul among them.
    assert len(int8_nodes) == 24, int8_nodes
    assert all("/attention/" in name for name in int8_nodes), int8_nodes
    fp32_ffn = [n.name for n in nodes if n.op_type == "MatMul" and "intermediate" in n.name]
    assert len(fp32_ffn) == 6, fp32_ffn
    assert "SkipLayerNormalization" in ops and "BiasGelu" in ops  # the BERT fusions ran


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
