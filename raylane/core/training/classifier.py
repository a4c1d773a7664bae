"""The text classifier: a MiniLM encoder and a small trained head.

Two bases. ``minilm-frozen``: the encoder is the bundled MiniLM (``raylane.infra.embeddings``),
only the head is trained, so each text is embedded once per run and every epoch reads the cached
vectors. ``minilm-finetuned``: the encoder is trained with the head
(``raylane.core.training.finetune``) and the artifact carries its weights. Artifacts are
safetensors (tensors plus string metadata: the base, the label map and the shape), never
pickled, so loading a tenant's artifact cannot run code.
"""

from __future__ import annotations

import csv
import io
import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from raylane.errors import InvalidInput
from raylane.infra import embeddings
from raylane.schemas.training import FINETUNE_DEFAULTS, FINETUNED, FROZEN

if TYPE_CHECKING:
    from raylane.core.training.finetune import Encoder

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
    """A head, its labels and the encoder it expects: the shared bundled one by name
    (``minilm-frozen``), or its own fine-tuned copy (``tuned``, ``minilm-finetuned``)."""

    head: Head
    labels: list[str]
    encoder: str
    extra: dict[str, str] = field(default_factory=dict)
    tuned: Encoder | None = None
    max_length: int = FINETUNE_DEFAULTS["max_length"]  # tokens per text (fine-tuned encoder)

    @property
    def base(self) -> str:
        return FINETUNED if self.tuned is not None else FROZEN

    def predict_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """Class probabilities for each embedding row."""
        self.head.eval()
        with torch.no_grad():
            logits = self.head(torch.as_tensor(vectors, dtype=torch.float32))
            probs: np.ndarray = torch.softmax(logits, dim=-1).numpy()
        return probs

    def embed_texts(self, texts: Sequence[str], *, threads: int | None = None) -> np.ndarray:
        """Unit vectors from this model's encoder: its own when fine-tuned, else the shared
        bundled one (loaded once per process, whichever versions use it)."""
        if self.tuned is not None:
            from raylane.core.training import finetune

            if threads:
                torch.set_num_threads(threads)
            return finetune.embed(self.tuned, texts, max_length=self.max_length)
        encoder = embeddings.load(str(embeddings.resolve(self.encoder)), threads)
        vectors: np.ndarray = encoder.encode(
            list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True
        )
        return vectors

    def predict_texts(self, texts: Sequence[str], *, threads: int | None = None) -> np.ndarray:
        """Class probabilities for each text."""
        return self.predict_vectors(self.embed_texts(texts, threads=threads))


def save_model(model: Classifier) -> bytes:
    """The artifact: safetensors bytes whose metadata carries the base, the labels and the
    shape; a fine-tuned model adds its encoder's weights and names the bundled tokenizer and
    config it was tuned from (referenced by name and fingerprint, not copied)."""
    state = {k: v.detach().contiguous() for k, v in model.head.state_dict().items()}
    meta = {
        **model.extra,  # first: the keys below describe these tensors, not a loaded file's
        "format": FORMAT,
        "base": model.base,
        "labels": json.dumps(model.labels),
        "encoder": model.encoder,
        "dim": str(model.head.dim),
        "hidden": str(model.head.hidden),
    }
    if model.tuned is not None:
        from raylane.core.training import finetune

        state = {f"head.{k}": v for k, v in state.items()}
        state |= {
            f"encoder.{k}": v.detach().contiguous().cpu()
            for k, v in model.tuned.state_dict().items()
        }
        meta |= {
            "tokenizer": model.encoder,
            "encoder_fingerprint": finetune.fingerprint(),
            "max_length": str(model.max_length),
        }
    data: bytes = st_save(state, metadata=meta)
    return data


_OWN_KEYS = ("labels", "dim", "hidden", "encoder", "max_length", "tokenizer")


def load_model(data: bytes) -> Classifier:
    """Read an artifact written by :func:`save_model`, of either base (tensors only: no code
    runs; a fine-tuned encoder's architecture and tokenizer come from the bundled model).

    Raises:
        InvalidInput: not a classifier artifact of this format, an unknown base, or an encoder
            fine-tuned from another build of the bundled model.
    """
    try:
        state = st_load(data)
        meta = _metadata(data)
        if meta.get("format") != FORMAT:
            raise InvalidInput("not a text-classifier artifact")
        labels = json.loads(meta["labels"])
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise InvalidInput("not a text-classifier artifact")
        base = meta.get("base", FROZEN)  # artifacts from before the fine-tuned base
        prefix = "head." if base == FINETUNED else ""
        dim, hidden = int(meta["dim"]), int(meta["hidden"])
        _check_head_size(state, prefix, dim=dim, hidden=hidden, classes=len(labels))
        head = Head(dim, len(labels), hidden)
        tuned, max_length = None, FINETUNE_DEFAULTS["max_length"]
        if base == FROZEN:
            head.load_state_dict(state, strict=True)
        elif base == FINETUNED:
            tuned, max_length = _load_tuned(meta, state, head)
        else:
            raise InvalidInput(f"unknown base {base!r} in the artifact")
    except (KeyError, ValueError, RuntimeError, SafetensorError) as exc:
        raise InvalidInput("not a text-classifier artifact") from exc
    extra = {k: v for k, v in meta.items() if k not in _OWN_KEYS}
    return Classifier(
        head=head,
        labels=labels,
        encoder=meta["encoder"],
        extra=extra,
        tuned=tuned,
        max_length=max_length,
    )


def _check_head_size(
    state: dict[str, torch.Tensor], prefix: str, *, dim: int, hidden: int, classes: int
) -> None:
    """The shape the metadata declares must be the tensors the file holds, checked before the
    head is built: a forged ``dim`` or label list must not allocate more than the file's size."""
    expected = (dim + 1) * hidden + (hidden + 1) * classes if hidden else (dim + 1) * classes
    present = sum(v.numel() for k, v in state.items() if k.startswith(prefix))
    if dim < 1 or hidden < 0 or classes < 1 or expected != present:
        raise InvalidInput("not a text-classifier artifact (its shape and tensors disagree)")


def _load_tuned(
    meta: dict[str, str], state: dict[str, torch.Tensor], head: Head
) -> tuple[Encoder, int]:
    from raylane.core.training import finetune

    if meta.get("encoder") != embeddings.BUILTIN or meta.get("tokenizer") != embeddings.BUILTIN:
        raise InvalidInput("a fine-tuned artifact must name the bundled MiniLM")
    if meta.get("encoder_fingerprint") != finetune.fingerprint():
        # Same shapes from another build would load and silently mis-tokenize.
        raise InvalidInput(
            "the artifact's encoder was fine-tuned from another build of the bundled MiniLM"
        )
    max_length = int(meta["max_length"])
    if not 1 <= max_length <= 512:
        raise ValueError("max_length out of range")
    model = finetune.TextClassifier(finetune.Encoder.blank(), head)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model.encoder, max_length


# The names the first (frozen-only) version exported.
save_head = save_model
load_head = load_model


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
    device = next(head.parameters()).device  # a worker's head lives on its GPU with use_gpu
    with torch.no_grad():
        x = torch.as_tensor(vectors, dtype=torch.float32, device=device)
        out: np.ndarray = head(x).argmax(-1).cpu().numpy()
    return out
