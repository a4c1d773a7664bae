"""Token-aware chunking with the real MiniLM tokenizer, and with tokenizers that lack offsets."""

from __future__ import annotations

import hashlib
import itertools
import random
import re
from pathlib import Path
from typing import Any

import pytest

from raylane.core.documents.chunking import (
    Chunk,
    FastTokenizer,
    chunk_text,
    content_hash,
    default_model_dir,
    load_tokenizer,
)

WORDS = [
    *("ray", "serve", "tenant", "embedding", "vector", "search", "platform", "cluster"),
    *("autoscaling", "worker", "deployment", "the", "a", "of", "and", "to", "in", "is"),
    *("unbelievably", "interoperability", "résumé", "naïve"),
]


def prose(n_chars: int, *, seed: int = 7) -> str:
    """Paragraphs of sentences of random words, reproducible."""
    rng = random.Random(seed)
    paragraphs: list[str] = []
    while sum(len(p) + 2 for p in paragraphs) < n_chars:
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 28))).capitalize()
            + rng.choice(".!?")
            for _ in range(rng.randint(1, 7))
        ]
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


MIXED = (
    prose(3000, seed=1)
    + "\n\nURLs like https://example.com/a/b?c=d&e=f#frag and emails a.b@c.de stay whole.\n"
    + "Numbers 3.14159, 2,718 and 1e-9; emoji 😀🎉 and CJK 机器学习很有趣。这是第二句。\n\n"
    + "x" * 700  # one giant "word" (MiniLM maps >100-char words to [UNK])
    + "\n\n"
    + "a.b" * 600  # a long run without spaces: forces splits inside it
    + "\n\n"
    + prose(2000, seed=2)
)


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    return load_tokenizer(default_model_dir())


def n_tokens(tokenizer: Any, text: str) -> int:
    return len(tokenizer.encode(text, add_special_tokens=False))


def assert_well_formed(text: str, chunks: list[Chunk], tokenizer: Any, max_tokens: int) -> None:
    assert chunks, "non-blank text must give chunks"
    for i, chunk in enumerate(chunks):
        assert chunk.index == i
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text.strip() == chunk.text and chunk.text
        assert chunk.token_count == n_tokens(tokenizer, chunk.text)
        assert chunk.token_count <= max_tokens
    for prev, nxt in itertools.pairwise(chunks):
        assert prev.start < nxt.start and prev.end < nxt.end
    # Nothing is lost: every non-space character lies inside some chunk.
    covered = bytearray(len(text))
    for chunk in chunks:
        covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
    assert all(covered[m.start()] for m in re.finditer(r"\S", text))


class EncodeOnly:
    """A tokenizer without offsets: chunking must fall back to estimating spans."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return list(self._inner.encode(text, add_special_tokens=add_special_tokens))


class ContextTokenizer:
    """Counts long words double only next to other words, so per-word estimates fall short."""

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        words = text.split()
        cost = 2 if len(words) > 1 else 1
        return [0] * sum(cost if len(w) > 5 else 1 for w in words)


class TestHelpers:
    def test_default_model_dir_holds_the_tokenizer(self) -> None:
        path = default_model_dir()
        assert path.name == "model"
        assert (path / "tokenizer.json").is_file() and (path / "config.json").is_file()

    def test_loads_offline_fast_tokenizer(self, tokenizer: Any) -> None:
        assert isinstance(tokenizer, FastTokenizer)
        assert tokenizer.encode("hello world", add_special_tokens=False) == [7592, 2088]

    def test_fast_tokenizer_matches_transformers(self, tokenizer: Any) -> None:
        """Same ids, offsets and chunks as transformers' tokenizer for the model (whose file
        also configures 128-token truncation and padding, which chunking must not get)."""
        from transformers import AutoTokenizer

        reference = AutoTokenizer.from_pretrained(str(default_model_dir()), local_files_only=True)
        text = ("Zürich's Ünïcode — naïve café. 東京は晴れ。 Ok?\n\n" * 40) + "tail words"
        ours = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
        theirs = reference(text, return_offsets_mapping=True, add_special_tokens=False)
        assert len(ours["input_ids"]) > 128
        assert ours["input_ids"] == theirs["input_ids"]
        assert [tuple(o) for o in ours["offset_mapping"]] == [
            tuple(o) for o in theirs["offset_mapping"]
        ]
        assert chunk_text(text, tokenizer=tokenizer, max_tokens=50, overlap=10) == chunk_text(
            text, tokenizer=reference, max_tokens=50, overlap=10
        )

    def test_load_tokenizer_missing_dir(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError):
            load_tokenizer(tmp_path / "nope")

    def test_content_hash_is_the_sha256_of_the_utf8_text(self) -> None:
        assert content_hash("abc") == hashlib.sha256(b"abc").hexdigest()
        assert content_hash("é") == hashlib.sha256("é".encode()).hexdigest()
        assert content_hash("a") != content_hash("a ")


class TestChunkText:
    @pytest.mark.parametrize(
        ("max_tokens", "overlap"), [(200, 40), (64, 16), (16, 4), (8, 0), (3, 1)]
    )
    def test_limits_offsets_and_coverage(
        self, tokenizer: Any, max_tokens: int, overlap: int
    ) -> None:
        chunks = chunk_text(MIXED, tokenizer=tokenizer, max_tokens=max_tokens, overlap=overlap)
        assert_well_formed(MIXED, chunks, tokenizer, max_tokens)

    def test_consecutive_chunks_overlap_by_about_overlap(self, tokenizer: Any) -> None:
        text = prose(20_000)
        chunks = chunk_text(text, tokenizer=tokenizer, max_tokens=200, overlap=40)
        assert len(chunks) > 10
        for prev, nxt in itertools.pairwise(chunks):
            assert nxt.start < prev.end
            shared = n_tokens(tokenizer, text[nxt.start : prev.end])
            assert 25 <= shared <= 55, shared

    def test_no_overlap_when_zero(self, tokenizer: Any) -> None:
        text = prose(5000)
        chunks = chunk_text(text, tokenizer=tokenizer, max_tokens=50, overlap=0)
        assert_well_formed(text, chunks, tokenizer, 50)
        for prev, nxt in itertools.pairwise(chunks):
            assert nxt.start >= prev.end

    def test_ends_at_paragraphs_when_they_fit(self, tokenizer: Any) -> None:
        paragraphs = [
            f"Paragraph {i}. " + " ".join(["tenant vector search"] * 12) for i in range(12)
        ]
        text = "\n\n".join(paragraphs)
        chunks = chunk_text(text, tokenizer=tokenizer, max_tokens=200, overlap=0)
        assert len(chunks) > 2
        for chunk in chunks:
            assert chunk.end == len(text) or text[chunk.end : chunk.end + 2] == "\n\n"
            assert chunk.start == 0 or text[chunk.start - 2 : chunk.start] == "\n\n"

    def test_ends_at_sentences_inside_one_paragraph(self, tokenizer: Any) -> None:
        text = " ".join(f"Sentence number {i} talks about ray serve replicas." for i in range(80))
        chunks = chunk_text(text, tokenizer=tokenizer, max_tokens=60, overlap=10)
        assert_well_formed(text, chunks, tokenizer, 60)
        assert all(chunk.text.endswith(".") for chunk in chunks)

    def test_same_text_gives_the_same_chunks(self, tokenizer: Any) -> None:
        first = chunk_text(MIXED, tokenizer=tokenizer, max_tokens=50, overlap=10)
        assert first == chunk_text(MIXED, tokenizer=tokenizer, max_tokens=50, overlap=10)

    def test_short_and_blank_text(self, tokenizer: Any) -> None:
        [only] = chunk_text("  \n Just one line.  \n", tokenizer=tokenizer)
        assert (only.text, only.start, only.index) == ("Just one line.", 4, 0)
        assert chunk_text("", tokenizer=tokenizer) == []
        assert chunk_text(" \n\t ", tokenizer=tokenizer) == []

    def test_long_document_is_covered_by_well_formed_chunks(self, tokenizer: Any) -> None:
        text = prose(50_000, seed=3)
        chunks = chunk_text(text, tokenizer=tokenizer)
        assert_well_formed(text, chunks, tokenizer, 200)
        assert sum(c.token_count for c in chunks) >= n_tokens(tokenizer, text)

    @pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 0), (10, -1), (10, 10), (10, 11)])
    def test_size_or_overlap_out_of_range_is_refused(
        self, tokenizer: Any, max_tokens: int, overlap: int
    ) -> None:
        with pytest.raises(ValueError):
            chunk_text("text", tokenizer=tokenizer, max_tokens=max_tokens, overlap=overlap)


class TestTokenizersWithoutOffsets:
    @pytest.mark.parametrize(("max_tokens", "overlap"), [(200, 40), (16, 4)])
    def test_encode_only_tokenizer(self, tokenizer: Any, max_tokens: int, overlap: int) -> None:
        plain = EncodeOnly(tokenizer)
        chunks = chunk_text(MIXED, tokenizer=plain, max_tokens=max_tokens, overlap=overlap)
        assert_well_formed(MIXED, chunks, plain, max_tokens)

    def test_context_dependent_counts_are_rechecked(self) -> None:
        counter = ContextTokenizer()
        text = prose(4000)
        chunks = chunk_text(text, tokenizer=counter, max_tokens=30, overlap=5)
        assert_well_formed(text, chunks, counter, 30)

    def test_word_tokenizer_exact_windows(self) -> None:
        class Words:
            def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
                return [0] * len(text.split())

        text = " ".join(f"w{i}" for i in range(25))
        chunks = chunk_text(text, tokenizer=Words(), max_tokens=10, overlap=2)
        assert [c.text.split()[0] for c in chunks] == ["w0", "w8", "w16"]
        assert [c.token_count for c in chunks] == [10, 10, 9]
