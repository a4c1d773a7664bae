"""A learned injection head over the platform's sentence embeddings (MiniLM).

Patterns catch the phrasings they were written for; paraphrases, other languages and
instructions buried in documents slip past them. This head is a logistic regression over
the unit-length MiniLM embedding of the text and of each pair of consecutive sentences
(an instruction hidden in a long document is scored on its own, not averaged away); the
text's probability is the highest of those.

The weights are a small JSON file shipped in the package, trained at build time with
``python -m raylane.core.guardrails.semantic`` on ``tests/data/guardrails_train.jsonl`` only:
the development set calibrates ``injection.SEMANTIC_FLOOR`` and the held-out set is never
used. The model loads lazily on first use, once per process, offline; without it the head
answers None and callers fall back to the patterns.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

HEAD_PATH = Path(__file__).with_name("injection_head.json")
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+|\n+")
_MAX_WINDOWS = 24  # a long document is scored on its first windows only, to bound latency
_lock = threading.Lock()
_load_lock = threading.Lock()


@lru_cache(maxsize=1)
def _head() -> tuple[np.ndarray, float] | None:
    try:
        data = json.loads(HEAD_PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log.warning("injection head weights missing at %s; patterns only", HEAD_PATH)
        return None
    return np.asarray(data["weights"], dtype=np.float32), float(data["bias"])


def _model() -> Any:
    with _load_lock:  # guardrails run in worker threads: the model loads once, not per thread
        return _load_model()


@lru_cache(maxsize=1)
def _load_model() -> Any:
    from raylane.infra.embeddings import default_model_dir, load

    try:
        return load(str(default_model_dir()))
    except (FileNotFoundError, OSError, ImportError) as exc:
        log.warning("embedding model unavailable for the injection head: %s", exc)
        return None


def windows(text: str) -> list[str]:
    """The text itself, then each pair of consecutive sentences when it has more than two."""
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]
    out = [text]
    if len(sentences) > 2:
        out += [" ".join(sentences[i : i + 2]) for i in range(len(sentences) - 1)]
    return out[: _MAX_WINDOWS + 1]


def embed(texts: list[str]) -> np.ndarray | None:
    """Unit-length MiniLM embeddings, one row per text; None without the model."""
    model = _model()
    if model is None:
        return None
    with _lock:  # one encoder per process; torch already spreads one batch over the cores
        vectors = model.encode(
            texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True
        )
    return np.asarray(vectors, dtype=np.float32)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
    return out


def probability(text: str) -> float | None:
    """Probability that ``text`` is a prompt injection, or None when the head is unavailable."""
    head = _head()
    if head is None or not text.strip():
        return None if head is None else 0.0
    vectors = embed(windows(text))
    if vectors is None:
        return None
    weights, bias = head
    return float(_sigmoid(vectors @ weights + bias).max())


def train(
    x: np.ndarray, y: np.ndarray, *, l2: float = 1e-4, epochs: int = 3000
) -> tuple[np.ndarray, float]:
    """Class-balanced, L2-regularised logistic regression by full-batch gradient descent."""
    w = np.zeros(x.shape[1], dtype=np.float64)
    b = 0.0
    pos = y.mean()
    sample = np.where(y == 1, 0.5 / pos, 0.5 / (1 - pos))
    lr = 2.0
    for _ in range(epochs):
        err = (_sigmoid(x @ w + b) - y) * sample
        w -= lr * (x.T @ err / len(y) + l2 * w)
        b -= lr * float(err.mean())
    return w, b


def _rows(path: Path) -> list[tuple[str, bool]]:
    with path.open(encoding="utf-8") as fh:
        return [(r["text"], bool(r["injection"])) for r in map(json.loads, fh) if r]


def main() -> None:
    parser = argparse.ArgumentParser(description="Train the injection head (build time).")
    parser.add_argument("--data", type=Path, default=Path("tests/data"))
    parser.add_argument("--out", type=Path, default=HEAD_PATH)
    args = parser.parse_args()
    # The training set only: the development set is where the floor is calibrated and the
    # scorer is measured, so it must not be fitted.
    rows = _rows(args.data / "guardrails_train.jsonl")
    x = embed([t for t, _ in rows])
    if x is None:
        raise SystemExit("the embedding model is needed to train the head")
    y = np.asarray([float(label) for _, label in rows])
    w, b = train(x.astype(np.float64), y)
    args.out.write_text(
        json.dumps(
            {
                "model": "all-MiniLM-L6-v2",
                "rows": len(rows),
                "bias": round(b, 6),
                "weights": [round(float(v), 6) for v in w],
            }
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"trained on {len(rows)} rows; wrote {args.out}")


if __name__ == "__main__":
    main()
