"""The int8 embedding backend: a bundled model run by ONNX Runtime with dynamic int8 quantization.

The ONNX file is computed here from the bundled weights, never downloaded: torch's exporter
writes the transformer with mean pooling and L2 normalisation inside the graph (what the
sentence-transformers model does), and ONNX Runtime's dynamic quantizer turns the attention's
weight matrices into int8, per output channel. At run time activations are quantized per batch, so
those MatMuls run on the CPU's int8 dot-product instructions (VNNI where present).

Before quantizing, ONNX Runtime's BERT optimizer fuses the graph (residual + LayerNorm into
SkipLayerNormalization, bias + GELU into BiasGelu), which saves the int8 graph's element-wise
work between its quantized MatMuls (all-int8 ran ~20 % faster fused; fp32 about the same).
Then only the attention's weight MatMuls (query, key, value and output projections) are quantized,
per output channel; the feed-forward MatMuls stay fp32. The feed-forward layers carry two thirds
of the MatMul work, but their activations (post-GELU, with outliers) quantize badly with one
dynamic scale per batch tensor: quantizing them cost recall@10 against fp32 exact search
0.93 on a development corpus, where attention-only int8 keeps 0.98 (docs/architecture.md,
"Embeddings", has the sweep). Activation-by-activation products are never quantized
(``MatMulConstBOnly``).

The file is made once per model and library versions and cached on disk; concurrent first uses
(several embedding actors, a Serve replica) take a file lock and publish it by atomic rename, so
no process ever reads a half-written model.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# Bump when the export or quantization recipe changes: the cache key changes with it.
RECIPE = "mean-normalize-v2-bertfused-attention-matmul-constb-perchannel-s8"
_lock = threading.Lock()


def _max_tokens(model_dir: Path) -> int:
    """The model's sequence limit as sentence-transformers applies it (it truncates there)."""
    config = model_dir / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text())["max_seq_length"])
    return int(json.loads((model_dir / "config.json").read_text())["max_position_embeddings"])


def cache_key(model_dir: Path) -> str:
    """What the quantized file depends on: the weights, the recipe and the library versions.

    Versions come from package metadata: importing torch (seconds) just to name the cached file
    would slow every int8 actor's start.
    """
    from importlib.metadata import version

    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors", "pytorch_model.bin"):
        path = model_dir / name
        if path.is_file():
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
    digest.update(f"{RECIPE}|{version('torch')}|{version('onnxruntime')}".encode())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def quantized_model(model_dir: Path, cache_dir: Path) -> Path:
    """The int8 ONNX file of ``model_dir``, made on first use and cached under ``cache_dir``.

    Safe under concurrent first use by several processes: one exports while the others wait on
    the lock, and the file appears under its final name only once complete (atomic rename).
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / f"{model_dir.name}-{cache_key(model_dir)}-int8.onnx"
    if target.is_file():
        return target
    with _lock, _file_lock(cache_dir / f"{target.name}.lock"):
        if target.is_file():  # another process made it while we waited
            return target
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".export-") as tmp:
            fp32 = Path(tmp) / "model.onnx"
            fused = Path(tmp) / "model-fused.onnx"
            int8 = Path(tmp) / "model-int8.onnx"
            _export(model_dir, fp32)
            _optimize(model_dir, fp32, fused)
            _quantize(fused, int8)
            os.replace(int8, target)
        log.info("made the int8 ONNX model %s", target)
    return target


def _export(model_dir: Path, out: Path) -> None:
    """Transformer + mean pooling + L2 normalisation as one ONNX graph (torch's exporter)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    model = Pooled(AutoModel.from_pretrained(str(model_dir))).eval()
    ids = torch.ones(2, 16, dtype=torch.long)
    dynamic = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        # The TorchScript-based exporter: it needs no package beyond torch and onnx.
        torch.onnx.export(
            model,
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(out),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": dynamic,
                "attention_mask": dynamic,
                "token_type_ids": dynamic,
                "embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )


def _optimize(model_dir: Path, fp32: Path, out: Path) -> None:
    """ONNX Runtime's BERT fusions (SkipLayerNormalization, BiasGelu), offline, on the CPU."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = json.loads((model_dir / "config.json").read_text())
    model = optimize_model(
        str(fp32),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
        use_gpu=False,
    )
    model.save_model_to_file(str(out))


def attention_projections(path: Path) -> list[str]:
    """The weight MatMuls of the attention blocks: query, key, value and output projections.

    Found by the exporter's node names (``.../attention/self/query/MatMul``,
    ``.../attention/output/dense/MatMul``); the feed-forward MatMuls (``intermediate``,
    ``output/dense`` outside ``attention``) and the activation-by-activation products are left out.
    """
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    return [
        node.name
        for node in graph.node
        if node.op_type == "MatMul" and "/attention/" in node.name and node.input[1] in weights
    ]


def _quantize(fp32: Path, out: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    nodes = attention_projections(fp32)
    if not nodes:  # an exporter that names nodes differently must not silently quantize nothing
        raise RuntimeError(f"no attention projection MatMul found in {fp32}")
    quantize_dynamic(
        str(fp32),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul"],
        nodes_to_quantize=nodes,
        # The fused graph has contrib ops shape inference cannot type; their outputs are float.
        extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
    )


class OnnxEncoder:
    """Encodes like ``SentenceTransformer.encode`` (the subset the platform calls), in int8.

    Texts are tokenized by the fast ``tokenizers`` tokenizer, truncated where the
    sentence-transformers model truncates, sorted by length and padded per batch.
    """

    def __init__(self, model_dir: Path, onnx_path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(_max_tokens(model_dir))
        self._tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0  # 0: ONNX Runtime's default, all cores
        options.inter_op_num_threads = 1
        # Spinning idle threads would take CPU from the other actors and replicas on the node.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self._dims = int(self._session.get_outputs()[0].shape[-1])

    def get_sentence_embedding_dimension(self) -> int:
        """The width of the vectors."""
        return self._dims

    def encode(
        self,
        texts: list[str],
        *,
        batch_size: int = 64,
        normalize_embeddings: bool = True,
        convert_to_numpy: bool = True,
    ) -> np.ndarray:
        """One unit-length float32 row per text, in the order given.

        ``normalize_embeddings`` and ``convert_to_numpy`` are accepted for call compatibility
        with sentence-transformers: the graph always normalises and the result is numpy.
        """
        out = np.zeros((len(texts), self._dims), dtype=np.float32)
        if not texts:
            return out
        encoded = self._tokenizer.encode_batch(list(texts))
        # Longest first, as sentence-transformers sorts: batches of like lengths waste no padding.
        order = sorted(range(len(texts)), key=lambda i: -len(encoded[i].ids))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = max(len(encoded[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            types = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encoded[i].ids)
                ids[row, :n] = encoded[i].ids
                mask[row, :n] = 1
                types[row, :n] = encoded[i].type_ids
            (vectors,) = self._session.run(
                ["embedding"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            )
            out[idx] = vectors
        return out


@lru_cache(maxsize=4)
def load(model_dir: str, cache_dir: str, threads: int | None = None) -> OnnxEncoder:
    """An int8 encoder for ``model_dir``, loaded once per process (the file made if missing)."""
    path = quantized_model(Path(model_dir), Path(cache_dir))
    return OnnxEncoder(Path(model_dir), path, threads)
