"""The fine-tuned base: the bundled MiniLM trained together with the head.

The encoder is the bundled model's transformer with the sentence-transformers pooling on top
(mean over the attention mask, then L2 normalisation), so a fine-tuned encoder still embeds like
MiniLM and the head sees vectors of the same kind as with the frozen base. Its architecture and
tokenizer always come from the bundled model directory, never from an artifact: an artifact
carries weights (safetensors) and a fingerprint of those files, so loading runs no code and
refuses weights fine-tuned from another build of the model.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from raylane.core.training.classifier import Head
from raylane.infra import embeddings
from raylane.schemas.training import FINETUNED, FROZEN

__all__ = ["FINETUNED", "FROZEN", "Encoder", "TextClassifier", "build", "embed", "tokenize"]
# The files that fix what the encoder's weights mean: architecture, vocabulary, tokenization.
_FINGERPRINTED = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt")


def model_dir() -> Path:
    """The bundled MiniLM's directory (resolved where the code runs, so a worker on another
    node finds its own installed copy)."""
    return embeddings.default_model_dir()


@lru_cache(maxsize=1)
def fingerprint() -> str:
    """SHA-256 over the bundled model's config and tokenizer files."""
    digest = hashlib.sha256()
    directory = model_dir()
    for name in _FINGERPRINTED:
        path = directory / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _quiet() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download
    from transformers.utils import logging as hf_logging

    # The pooler's weights are dropped on purpose (mean pooling): no "unexpected keys" report.
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


@lru_cache(maxsize=1)
def tokenizer() -> Any:
    """The bundled tokenizer, loaded once per process."""
    _quiet()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir()))


class Encoder(nn.Module):
    """MiniLM's transformer, mean pooling and normalisation: texts' tokens in, unit vectors out."""

    def __init__(self, transformer: nn.Module) -> None:
        super().__init__()
        self.transformer = transformer
        self.dim = int(transformer.config.hidden_size)  # type: ignore[union-attr,arg-type]

    @classmethod
    def pretrained(cls) -> Encoder:
        """The bundled weights (the starting point of a fine-tune)."""
        _quiet()
        from transformers import AutoModel

        # No pooler: it is unused by mean pooling, and an unused parameter breaks DDP.
        return cls(AutoModel.from_pretrained(str(model_dir()), add_pooling_layer=False))

    @classmethod
    def blank(cls) -> Encoder:
        """The bundled architecture with untrained weights, for loading a checkpoint into."""
        _quiet()
        from transformers import AutoConfig, AutoModel

        config = AutoConfig.from_pretrained(str(model_dir()))
        return cls(AutoModel.from_config(config, add_pooling_layer=False))  # type: ignore[no-untyped-call]

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        mask = features["attention_mask"]
        tokens = self.transformer(**features).last_hidden_state
        weights = mask.unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, p=2, dim=1)


class TextClassifier(nn.Module):
    """Encoder and head trained as one model: tokens in, logits out."""

    def __init__(self, encoder: Encoder, head: Head) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        out: torch.Tensor = self.head(self.encoder(features))
        return out


def build(
    classes: int, *, hidden: int = 0, dropout: float = 0.0, pretrained: bool = True
) -> TextClassifier:
    """A fine-tunable classifier: the bundled encoder (its weights when ``pretrained``) and a
    new head."""
    encoder = Encoder.pretrained() if pretrained else Encoder.blank()
    return TextClassifier(encoder, Head(encoder.dim, classes, hidden, dropout))


def optimizer(
    model: TextClassifier,
    *,
    learning_rate: float,
    encoder_learning_rate: float,
    weight_decay: float,
) -> torch.optim.Optimizer:
    """AdamW with the encoder's small rate and the head's own (a new head needs a larger one)."""
    return torch.optim.AdamW(
        [
            {"params": list(model.encoder.parameters()), "lr": encoder_learning_rate},
            {"params": list(model.head.parameters()), "lr": learning_rate},
        ],
        weight_decay=weight_decay,
    )


def tokenize(
    texts: Sequence[str], *, max_length: int, device: torch.device | None = None
) -> dict[str, torch.Tensor]:
    """Token ids and masks, padded to the longest text of the batch, cut at ``max_length``."""
    batch = tokenizer()(
        list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    return {k: v.to(device) if device is not None else v for k, v in batch.items()}


def embed(
    encoder: Encoder, texts: Sequence[str], *, max_length: int, batch_size: int = 64
) -> np.ndarray:
    """Unit vectors for ``texts`` (inference: no gradients, dropout off)."""
    encoder.eval()
    device = next(encoder.parameters()).device
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            features = tokenize(texts[i : i + batch_size], max_length=max_length, device=device)
            out.append(encoder(features).float().cpu().numpy())
    if not out:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    return np.concatenate(out).astype(np.float32)
