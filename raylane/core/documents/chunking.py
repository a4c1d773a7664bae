"""Token-aware chunking with overlap, plus the helpers to find and load the default tokenizer.

Chunks are measured in the embedding model's own tokens, so none is silently truncated by the
model, and they end at paragraph, sentence or word breaks whenever the window allows it.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from raylane.infra.embeddings import default_model_dir

# How good a place to split is, judged by what lies between two tokens.
_NONE, _WORD, _SENTENCE, _PARAGRAPH = 0, 1, 2, 3
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
_SPACE = re.compile(r"\s")
_WORDS = re.compile(r"\S+")
_SENTENCE_END = frozenset(".!?…")
_CLOSERS = frozenset("\"')]}\u00bb\u201d\u2019")  # and closing guillemet/curly quotes
# Ideographic full stop and fullwidth ! and ?: CJK sentences end without a following space.
_CJK_STOPS = frozenset("\u3002\uff01\uff1f")


class Tokenizer(Protocol):
    """The one method chunking needs; Hugging Face tokenizers qualify."""

    def encode(self, text: str, add_special_tokens: bool = ...) -> list[int]: ...


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a text: ``text == source[start:end]``; ``token_count`` as the tokenizer counts."""

    index: int
    text: str
    start: int
    end: int
    token_count: int


def content_hash(text: str) -> str:
    """SHA-256 hex digest of the UTF-8 text, for deduplicating documents and chunks."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_tokenizer(model_dir: str | Path | None = None) -> Any:
    """Load a model's tokenizer from a local directory, never from the network.

    A directory with ``tokenizer.json`` (every fast tokenizer has one) is read by the
    ``tokenizers`` library alone, in milliseconds and without importing transformers, which
    matters in short-lived ingest workers; others go through transformers' AutoTokenizer.
    Either way the result is reusable, so callers should keep it.

    Args:
        model_dir: the model directory; the bundled MiniLM model when omitted.

    Raises:
        FileNotFoundError: the directory does not exist.
    """
    path = Path(model_dir) if model_dir is not None else default_model_dir()
    if not path.is_dir():
        raise FileNotFoundError(f"tokenizer directory {path} does not exist")
    if (path / "tokenizer.json").is_file():
        return FastTokenizer(path / "tokenizer.json")
    # Runs before transformers is first imported in most processes, which is when the hub
    # library reads this; local_files_only covers processes that imported it earlier.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


class FastTokenizer:
    """A ``tokenizers.Tokenizer`` answering the two calls chunking makes, as a Hugging Face fast
    tokenizer does: no truncation or padding (a model's file may configure both)."""

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(path))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=add_special_tokens).ids)

    def __call__(
        self,
        text: str,
        *,
        return_offsets_mapping: bool = False,
        add_special_tokens: bool = True,
        verbose: bool = True,
    ) -> dict[str, list[Any]]:
        encoding = self._tokenizer.encode(text, add_special_tokens=add_special_tokens)
        out: dict[str, list[Any]] = {"input_ids": list(encoding.ids)}
        if return_offsets_mapping:
            out["offset_mapping"] = list(encoding.offsets)
        return out


def chunk_text(
    text: str,
    *,
    tokenizer: Tokenizer,
    max_tokens: int = 200,
    overlap: int = 40,
) -> list[Chunk]:
    """Split ``text`` into overlapping chunks of at most ``max_tokens`` tokens.

    The text is tokenized once (with character offsets when the tokenizer offers them), split
    preferably at paragraph, then sentence, then word breaks, and every chunk is re-counted with
    ``tokenizer.encode`` so the limit holds as the model will count it. Deterministic.

    Args:
        text: the text to split.
        tokenizer: anything with ``encode(text, add_special_tokens=False)``; a Hugging Face
            fast tokenizer is used through its offset mapping, which is much faster.
        max_tokens: hard upper bound on each chunk's token count.
        overlap: about how many tokens consecutive chunks share.

    Returns:
        Chunks in order; empty for blank text. ``text[c.start:c.end] == c.text``.

    Raises:
        ValueError: ``max_tokens`` < 1, or ``overlap`` outside ``[0, max_tokens)``.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    if not 0 <= overlap < max_tokens:
        raise ValueError(f"overlap must be in [0, max_tokens), got {overlap}")
    spans = _token_spans(text, tokenizer)
    if not spans:
        return []
    levels = _boundary_levels(text, spans)
    chunks: list[Chunk] = []
    start, prev_end = 0, 0
    while True:
        end, count = _fit(text, spans, levels, tokenizer, start, prev_end, max_tokens)
        a, b = spans[start][0], spans[end - 1][1]
        chunks.append(Chunk(index=len(chunks), text=text[a:b], start=a, end=b, token_count=count))
        if end >= len(spans):
            return chunks
        start, prev_end = _next_start(levels, start, end, overlap, max_tokens), end


def _token_spans(text: str, tokenizer: Tokenizer) -> list[tuple[int, int]]:
    """Character span of every token, from one tokenizer call when possible."""
    if not text.strip():
        return []
    if callable(tokenizer):
        try:
            encoding = tokenizer(
                text, return_offsets_mapping=True, add_special_tokens=False, verbose=False
            )
            offsets = encoding["offset_mapping"]
        except (TypeError, ValueError, KeyError, NotImplementedError):
            offsets = None  # a slow tokenizer, or not a Hugging Face one: estimate below
        if offsets is not None:
            return [(int(a), int(b)) for a, b in offsets]
    return _estimated_spans(text, tokenizer)


def _estimated_spans(text: str, tokenizer: Tokenizer) -> list[tuple[int, int]]:
    """Per-word token counts spread over each word; ``_fit`` re-counts, so estimates are safe.

    Words repeat a lot, so counting each distinct word once keeps this to a few thousand calls
    for a long document instead of one call per chunk over the whole text.
    """
    counts: dict[str, int] = {}
    spans: list[tuple[int, int]] = []
    for match in _WORDS.finditer(text):
        word = match.group()
        k = counts.get(word)
        if k is None:
            k = counts[word] = len(tokenizer.encode(word, add_special_tokens=False))
        a, b = match.span()
        spans.extend((a + (b - a) * j // k, a + (b - a) * (j + 1) // k) for j in range(k))
    return spans


def _ends_sentence(text: str, pos: int) -> bool:
    # Skip closing quotes and brackets: 'He said "stop." Then' ends a sentence after the quote.
    while pos > 0 and text[pos - 1] in _CLOSERS:
        pos -= 1
    return pos > 0 and text[pos - 1] in _SENTENCE_END


def _boundary_levels(text: str, spans: list[tuple[int, int]]) -> list[int]:
    """``levels[i]``: how natural it is to split between token ``i - 1`` and token ``i``."""
    levels = [_NONE] * len(spans)
    for i in range(1, len(spans)):
        prev_end, next_start = spans[i - 1][1], spans[i][0]
        gap = text[prev_end:next_start]
        if not _SPACE.search(gap):
            if prev_end > 0 and text[prev_end - 1] in _CJK_STOPS:
                levels[i] = _SENTENCE
            continue
        if "\n" in gap:
            levels[i] = _PARAGRAPH if _BLANK_LINE.search(gap) else _SENTENCE
        else:
            levels[i] = _SENTENCE if _ends_sentence(text, prev_end) else _WORD
    return levels


def _pick_end(levels: list[int], start: int, limit: int, floor: int) -> int:
    """Best split in the second half of ``[start, limit]``: paragraph > sentence > word."""
    if limit >= len(levels):
        return len(levels)
    # Below half the window a chunk gets too small; ``floor`` keeps each chunk reaching past
    # the previous one, so overlap never turns into a chunk that adds nothing.
    lo = min(limit, max(start + max(1, (limit - start) // 2), floor))
    best: dict[int, int] = {}
    for pos in range(limit, lo - 1, -1):
        level = levels[pos]
        if level == _PARAGRAPH:
            return pos
        best.setdefault(level, pos)
    return best.get(_SENTENCE) or best.get(_WORD) or limit


def _fit(
    text: str,
    spans: list[tuple[int, int]],
    levels: list[int],
    tokenizer: Tokenizer,
    start: int,
    prev_end: int,
    max_tokens: int,
) -> tuple[int, int]:
    """End token index and real token count of the chunk starting at ``start``.

    Re-encoding the chunk on its own can differ from the offsets (word pieces at a forced split,
    estimated spans), so shrink until the tokenizer itself agrees the chunk fits.
    """
    limit = min(start + max_tokens, len(spans))
    while True:
        end = _pick_end(levels, start, limit, prev_end + 1)
        chunk = text[spans[start][0] : spans[end - 1][1]]
        count = len(tokenizer.encode(chunk, add_special_tokens=False))
        if count <= max_tokens or end - start <= 1:
            return end, count  # a single token that re-encodes longer cannot be split further
        limit = max(start + 1, end - (count - max_tokens))


def _next_start(levels: list[int], start: int, end: int, overlap: int, max_tokens: int) -> int:
    """Start of the next chunk: about ``overlap`` tokens back, at the most natural break near."""
    if overlap == 0:
        return end
    target = end - overlap
    slack = max(1, overlap // 4)
    # Starting later than ``end - max_tokens`` guarantees the next chunk reaches past ``end``.
    lo = max(start + 1, target - slack, end - max_tokens + 1)
    if lo >= end:
        return end
    hi = max(lo, min(end - 1, target + slack))
    return max(range(lo, hi + 1), key=lambda pos: (levels[pos], -abs(pos - target), -pos))
