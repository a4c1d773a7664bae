"""The text classifier: a frozen MiniLM encoder and a small trained head.

The encoder is the bundled MiniLM (``raylane.infra.embeddings``); only the head is trained, so
each text is embedded once per run and every epoch reads the cached vectors. Heads are saved
with safetensors (tensors plus string metadata: the label map and the shape), never pickled, so
loading a tenant's artifact cannot run code.
"""

from __future__ import annotations

import csv
import io
import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from raylane.errors import InvalidInput

FORMAT = "raylane.text-classifier/1"
HELD_OUT = frozenset({"test", "validation", "val", "eval", "heldout", "held_out"})


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    split: str  # "train" or "heldout"


def parse_examples(data: bytes, *, fmt: str = "jsonl", holdout: float = 0.2) -> list[Example]:
    """Rows of a labeled dataset (JSON Lines or CSV: ``text``, ``label``, optional ``split``).

    Rows without a split go to the held-out set by a stable hash of their text, so the split is
    the same on every attempt and every worker.

    Raises:
        InvalidInput: a row without text or label, or undecodable content (the line is named).
    """
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("the dataset is not UTF-8 text") from exc
    rows: Iterable[tuple[int, dict[str, Any]]]
    if fmt == "csv":
        rows = enumerate(csv.DictReader(io.StringIO(content)), start=2)
    else:
        rows = ((n, _json_row(n, line)) for n, line in enumerate(content.splitlines(), 1) if line)
    out = []
    for line, row in rows:
        text, label = row.get("text"), row.get("label")
        if not isinstance(text, str) or not text.strip() or label is None or label == "":
            raise InvalidInput(f"line {line}: a row needs a non-empty text and a label")
        split = str(row.get("split") or "").lower()
        if split in HELD_OUT:
            split = "heldout"
        elif split not in ("train", ""):
            raise InvalidInput(f"line {line}: unknown split {split!r}")
        elif not split:
            bucket = zlib.crc32(text.encode()) % 1000 / 1000
            split = "heldout" if bucket < holdout else "train"
        out.append(Example(text=text, label=str(label), split=split))
    return out


def _json_row(line: int, text: str) -> dict[str, Any]:
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"line {line}: not JSON ({exc.msg})") from exc
    if not isinstance(row, dict):
        raise InvalidInput(f"line {line}: a row must be a JSON object")
    return row


def label_map(examples: Sequence[Example]) -> list[str]:
    """Labels in a stable order (sorted), their index the class id."""
    return sorted({e.label for e in examples})


class Head(nn.Module):
    """Linear (``hidden=0``) or one-hidden-layer MLP over a sentence embedding."""

    def __init__(self, dim: int, classes: int, hidden: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        self.dim, self.classes, self.hidden = dim, classes, hidden
        if hidden:
            self.net: nn.Module = nn.Sequential(
                nn.Dropout(dropout), nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, classes)
            )
        else:
            self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


@dataclass
class Classifier:
    """A head, its labels and the encoder it expects."""

    head: Head
    labels: list[str]
    encoder: str
    extra: dict[str, str] = field(default_factory=dict)

    def predict_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """Class probabilities for each embedding row."""
        self.head.eval()
        with torch.no_grad():
            logits = self.head(torch.as_tensor(vectors, dtype=torch.float32))
            probs: np.ndarray = torch.softmax(logits, dim=-1).numpy()
        return probs


def save_head(model: Classifier) -> bytes:
    """The artifact: safetensors bytes whose metadata carries the labels and the shape."""
    state = {k: v.detach().contiguous() for k, v in model.head.state_dict().items()}
    meta = {
        "format": FORMAT,
        "labels": json.dumps(model.labels),
        "encoder": model.encoder,
        "dim": str(model.head.dim),
        "hidden": str(model.head.hidden),
        **model.extra,
    }
    data: bytes = st_save(state, metadata=meta)
    return data


def load_head(data: bytes) -> Classifier:
    """Read an artifact written by :func:`save_head` (tensors only: no code runs).

    Raises:
        InvalidInput: not a classifier artifact of this format.
    """
    try:
        state = st_load(data)
        meta = _metadata(data)
        labels = json.loads(meta["labels"])
        head = Head(int(meta["dim"]), len(labels), int(meta["hidden"]))
        head.load_state_dict(state, strict=True)
    except (KeyError, ValueError, RuntimeError, SafetensorError) as exc:
        raise InvalidInput("not a text-classifier artifact") from exc
    if meta.get("format") != FORMAT:
        raise InvalidInput("not a text-classifier artifact")
    extra = {k: v for k, v in meta.items() if k not in ("labels", "dim", "hidden", "encoder")}
    return Classifier(head=head, labels=labels, encoder=meta["encoder"], extra=extra)


def _metadata(data: bytes) -> dict[str, str]:
    # The safetensors header: 8 bytes little-endian length, then JSON with "__metadata__".
    size = int.from_bytes(data[:8], "little")
    if size <= 0 or size > len(data) - 8:
        raise ValueError("bad safetensors header")
    header = json.loads(data[8 : 8 + size])
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict):
        raise ValueError("bad safetensors metadata")
    return {str(k): str(v) for k, v in meta.items()}


def evaluate(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> dict[str, Any]:
    """Accuracy, macro-F1 and the confusion matrix (rows: true class, columns: predicted)."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (y_true.astype(np.int64), y_pred.astype(np.int64)), 1)
    tp = np.diag(matrix).astype(np.float64)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = actual > 0  # macro over the classes the held-out set holds
    total = int(matrix.sum())
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "confusion_matrix": matrix.tolist(),
    }


def train_epoch(
    head: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
) -> Iterable[float]:
    """One pass over ``batches``; yields each step's loss."""
    head.train()
    loss_fn = nn.CrossEntropyLoss()
    for x, y in batches:
        optimizer.zero_grad()
        loss = loss_fn(head(x), y)
        loss.backward()
        optimizer.step()
        yield float(loss.item())


def predict_classes(head: Head, vectors: np.ndarray) -> np.ndarray:
    head.eval()
    with torch.no_grad():
        out: np.ndarray = head(torch.as_tensor(vectors, dtype=torch.float32)).argmax(-1).numpy()
    return out
