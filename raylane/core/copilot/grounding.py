"""Grounded answers for small models: the answer is quoted from the retrieved passages.

A 135M-parameter model given passages invents APIs and loops; quoting does not. An extractive
answer splits the passages into sentences (markdown syntax, headings, code blocks and table
pipes dropped), scores each against the question (keyword overlap weighted by rarity, the
passage's retrieval score and rank, a bonus for a number when the question asks for one), and
answers with the best one to three, each followed by its passage's marker ``[n]``. When no
passage is close enough to the question, the answer is one fixed sentence, ``REFUSAL``.

Follow-up questions ("How many dimensions do its vectors have?") are retrieved and scored with
the previous user turn, which names what "it" is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from raylane.config import Settings
    from raylane.core.collections.search import Hit

AnswerMode = Literal["auto", "extractive", "generative"]
REFUSAL = "I could not find that in the project's documents."

# Tuned on tests/data/copilot_dev.yaml (never on the demo suite). Retrieval scores are cosine
# similarities of the question to the chunk (``mode: vector``): questions the docs answer land
# around 0.4-0.7 on their best chunk, unrelated ones under 0.3.
MIN_PASSAGE_SCORE = 0.25  # below this the best passage is unrelated: refuse
WEAK_PASSAGE_SCORE = 0.4  # below this a passage must also share a keyword with the question
EXTRA_SENTENCE_RATIO = 0.8  # a second or third sentence must score this share of the best
MAX_SENTENCES = 3
MAX_MISSING_SHARE = 0.6  # this share of the question absent from every passage: refuse
NUMBER_BONUS = 0.1
PASSAGE_WEIGHT = 0.6  # how much the passage's retrieval score counts beside the words
LONG_SENTENCE_CHARS = 300
LENGTH_PENALTY = 0.3  # per LONG_SENTENCE_CHARS beyond the first
EXTRACTIVE_TOP_K = 8  # passages an extractive answer chooses its sentences from
EXTRACTIVE_LEXICAL_K = 4  # and chunks found by their words (full-text search), added to them
MIN_SENTENCE_CHARS = 12
MIN_SENTENCE_WORDS = 4  # shorter: likelier a label or a heading than an answer
SHORT_PENALTY = 0.3

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "it's",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "should",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "get",
        "gets",
        "got",
        "any",
        "all",
        "about",
        "also",
        "may",
        "might",
        "must",
        "one",
        "ones",
        "raylane",
        "raylane's",
        "many",
        "much",
        "often",
    ]
)
SUFFIXES = (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("e", ""))
PRONOUNS = frozenset(
    [
        "it",
        "its",
        "it's",
        "that",
        "they",
        "them",
        "their",
        "those",
        "this",
        "these",
        "there",
        "he",
        "she",
    ]
)
FOLLOW_UP_MAX_WORDS = 5
# A question that wants a number: the sentence that has one is likelier to answer it.
NUMERIC = re.compile(
    r"\b(how (many|much|long|often|large|big|old)|what (value|size|port|number|version|limit)"
    r"|which (port|version|number|value)|minimum|maximum|default (size|limit|value))\b",
    re.I,
)

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
# Bold and italic asterisks only: "__" sits inside setting names (RAYLANE_LLM__BACKEND).
_EMPHASIS = re.compile(r"(\*\*|(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*]))")
_BOX = re.compile(r"[│┌┐└┘├┤┬┴┼─═║▼▲►◄]")
# A sentence ends at . ! ? followed by space and a capital, a digit, a quote or a bracket; not
# after a common abbreviation or a single letter ("e.g.", "i.e.", "U.S.").
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[`])")
_ABBREVIATION = re.compile(r"(\b(e\.g|i\.e|etc|vs|cf|approx|incl|no|fig)\.|\b[A-Za-z]\.)$", re.I)
_WORD = re.compile(r"[a-z0-9][a-z0-9_.:/@*-]*[a-z0-9*]|[a-z0-9*]", re.I)
_POSSESSIVE = re.compile(r"(?<=\w)['\u2019]s\b")
_MARKER = re.compile(r"\s*\[\d+\]")


@dataclass(frozen=True)
class Sentence:
    text: str
    passage: int  # 1-based: the citation marker
    score: float = 0.0


@dataclass(frozen=True)
class Extract:
    """An extractive answer: its text (with markers) and the passages it cites (1-based)."""

    text: str
    cited: list[int]

    @property
    def refused(self) -> bool:
        return not self.cited


def auto_mode(
    settings: Settings, *, bundled: bool | None = None
) -> Literal["extractive", "generative"]:
    """What ``answer_mode: auto`` means on this platform: ``llm.grounding`` when it names a
    mode, else extractive for the bundled small llama.cpp model (``bundled``: the backend says
    whether it runs the packaged model; None: judged from the settings) and generative for any
    other model."""
    choice = settings.llm.grounding
    if choice != "auto":
        return choice
    if bundled is None:
        bundled = settings.llm.backend == "llamacpp" and not settings.llm.model_path
    return "extractive" if bundled else "generative"


def plain_lines(text: str) -> list[str]:
    """Markdown as plain prose blocks: code blocks, headings, table rules and diagrams dropped,
    a table row's cells joined with "; ", bullets and emphasis removed, links kept as text.
    Each returned item is one paragraph, bullet or table row."""
    blocks: list[str] = []
    current: list[str] = []
    fenced = False

    def flush() -> None:
        if current:
            blocks.append(" ".join(current))
            current.clear()

    for raw in text.splitlines():
        line = raw.rstrip()
        if _FENCE.match(line):
            fenced = not fenced
            flush()
            continue
        if fenced or _HEADING.match(line) or _TABLE_RULE.match(line) or _BOX.search(line):
            flush()
            continue
        stripped = line.strip()
        if not stripped:
            flush()
            continue
        if stripped.startswith("|"):
            flush()
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            blocks.append("; ".join(c for c in cells if c))
            continue
        if _BULLET.match(line):
            flush()
            stripped = _BULLET.sub("", line).strip()
        current.append(stripped)
    flush()
    return [_inline(b) for b in blocks if b]


def _inline(text: str) -> str:
    text = _LINK.sub(r"\1", text)
    text = text.replace("`", "")
    text = _EMPHASIS.sub("", text)
    return re.sub(r"\s+", " ", text).strip()


def split_sentences(text: str) -> list[str]:
    """The sentences of a passage (markdown cleaned first), in order."""
    out: list[str] = []
    for block in plain_lines(text):
        pending = ""
        for piece in _SENTENCE_END.split(block):
            pending = f"{pending} {piece}".strip() if pending else piece.strip()
            if _ABBREVIATION.search(pending):
                continue  # "e.g. Foo": not the end of a sentence
            out.append(pending)
            pending = ""
        if pending:
            out.append(pending)
    return [s for s in out if len(s) >= MIN_SENTENCE_CHARS and any(c.isalpha() for c in s)]


def _stem(word: str) -> str:
    """A light stemmer: enough that "embeddings" meets "embedding" and "scales" "scaling"."""
    for _ in range(2):  # "embeddings" -> "embedding" -> "embedd"
        for suffix, keep in SUFFIXES:
            if len(word) > len(suffix) + 3 and word.endswith(suffix) and not word.endswith("ss"):
                word = word[: -len(suffix)] + keep
                break
    return word


def keywords(text: str) -> set[str]:
    """The question words that can pick a sentence: lower case, stopwords out, lightly stemmed.
    An identifier (``hnsw.ef_search``, ``org:create``) counts whole and by its parts."""
    found: set[str] = set()
    for token in _WORD.findall(_POSSESSIVE.sub("", text.lower())):
        token = token.strip(".:/-")
        if not token:
            continue
        # an identifier counts whole and by its parts (a part of one letter says nothing)
        parts = [p for p in re.split(r"[_.:/@-]+", token) if len(p) > 1 and p != token]
        for part in [token, *parts]:
            if part not in STOPWORDS:
                found.add(_stem(part))
    return found


def lexical_query(text: str) -> str:
    """A full-text query (``websearch_to_tsquery``) matching any of the question's words: the
    words a sentence must share with the question, where the vector search can miss them."""
    words = []
    for token in _WORD.findall(_POSSESSIVE.sub("", text.lower())):
        token = token.strip(".:/-*")
        if token and token not in STOPWORDS and token not in words and token != "or":
            words.append(token)
    return " or ".join(words)


def is_follow_up(question: str) -> bool:
    """A question that leans on the previous turn: short, or pointing back with a pronoun."""
    words = re.findall(r"[a-z']+", question.lower())
    return len(words) <= FOLLOW_UP_MAX_WORDS or any(w in PRONOUNS for w in words)


def previous_user_turn(history: Sequence[dict[str, str]]) -> str | None:
    for turn in reversed(history):
        if turn.get("role") == "user" and turn.get("content"):
            return turn["content"]
    return None


def retrieval_query(question: str, history: Sequence[dict[str, str]]) -> str:
    """What to retrieve with: a follow-up question joined to the previous user turn."""
    previous = previous_user_turn(history)
    if previous and is_follow_up(question):
        return f"{previous} {question}"
    return question


def _candidates(passages: Sequence[Hit]) -> list[tuple[int, str]]:
    """(passage number, sentence) for every sentence of the passages, each text once (chunks
    overlap). A chunk that starts mid-sentence loses that fragment: the chunk before it holds
    the whole sentence."""
    seen: set[str] = set()
    out = []
    for i, passage in enumerate(passages, start=1):
        sentences = split_sentences(passage.text)
        if sentences and passage.text.lstrip()[:1].islower():
            sentences = sentences[1:]
        for text in sentences:
            key = text.lower()
            if key not in seen:
                seen.add(key)
                out.append((i, text))
    return out


def _weights(question: str, context: str | None, words: Sequence[set[str]]) -> dict[str, float]:
    """Each asked keyword's weight: rarer among the candidate sentences weighs more ("dimension"
    picks a sentence, "default" barely); ``context``'s keywords count half."""
    asked = dict.fromkeys(keywords(question), 1.0)
    if context:
        for k in keywords(context):
            asked.setdefault(k, 0.5)
    n = len(words)
    return {k: w * math.log(1 + n / (1 + sum(k in ws for ws in words))) for k, w in asked.items()}


def score_sentences(
    question: str, passages: Sequence[Hit], *, context: str | None = None
) -> list[Sentence]:
    """Every sentence of ``passages`` scored against ``question`` (best first).

    Score = keyword coverage (each question keyword weighted by its rarity among the candidate
    sentences; ``context``'s keywords, the previous turn of a follow-up, count half) + a share
    of the passage's retrieval score and rank + a bonus for a digit when a number is asked for
    - a penalty for length (a long sentence is a poor answer even when it matches).
    """
    candidates = _candidates(passages)
    if not candidates:
        return []
    words = [keywords(text) for _, text in candidates]
    weight = _weights(question, context, words)
    total = sum(weight.values()) or 1.0
    wants_number = bool(NUMERIC.search(question))
    scored = []
    for (index, text), found in zip(candidates, words, strict=True):
        passage = passages[index - 1]
        coverage = sum(w for k, w in weight.items() if k in found) / total
        score = coverage + PASSAGE_WEIGHT * max(passage.score, 0.0) + 0.05 / index
        if wants_number and re.search(r"\d", text):
            score += NUMBER_BONUS
        score -= LENGTH_PENALTY * max(0, len(text) - LONG_SENTENCE_CHARS) / LONG_SENTENCE_CHARS
        if len(text.split()) < MIN_SENTENCE_WORDS:
            score -= SHORT_PENALTY
        scored.append(Sentence(text, index, score if coverage else score - 1.0))
    return sorted(scored, key=lambda s: s.score, reverse=True)


def missing_share(question: str, passages: Sequence[Hit]) -> float:
    """The share of the question's keywords (by rarity weight) that no passage contains. A
    question about something the documents never mention ("Is there an iPhone app?") keeps its
    topic words out of every passage, however close the passages' vectors came."""
    candidates = _candidates(passages)
    words = [keywords(text) for _, text in candidates]
    weight = _weights(question, None, words)
    total = sum(weight.values())
    if not total:
        return 0.0
    present = set().union(*words) if words else set()
    return sum(w for k, w in weight.items() if k not in present) / total


def relevant(question: str, passages: Sequence[Hit], *, context: str | None = None) -> bool:
    """Whether the passages are close enough to the question to answer from: the best passage
    near enough in meaning, and most of what the question asks about present in them."""
    if not passages:
        return False
    best = max(p.score for p in passages)
    if best < MIN_PASSAGE_SCORE:
        return False
    if missing_share(f"{context} {question}" if context else question, passages) >= (
        MAX_MISSING_SHARE
    ):
        return False
    if best >= WEAK_PASSAGE_SCORE:
        return True
    asked = keywords(question) | (keywords(context) if context else set())
    return any(asked & keywords(p.text) for p in passages)


def extract(
    question: str,
    passages: Sequence[Hit],
    history: Sequence[dict[str, str]] = (),
    extra: Sequence[Hit] = (),
) -> Extract:
    """The extractive answer to ``question`` from ``passages`` (the vector search's hits) and
    ``extra`` (chunks found by their words: more sentences to choose from, but no say in
    whether the question is answerable), or the refusal. Markers number the cited passages in
    the order the answer cites them; ``cited`` maps each marker (its position) to its passage
    (1-based, in ``passages`` followed by ``extra``)."""
    previous = previous_user_turn(history)
    context = previous if previous and is_follow_up(question) else None
    if not relevant(question, passages, context=context):
        return Extract(REFUSAL, [])
    ranked = score_sentences(question, [*passages, *extra], context=context)
    if not ranked:
        return Extract(REFUSAL, [])
    best = ranked[0]
    chosen = [best]
    for sentence in ranked[1:]:
        if len(chosen) == MAX_SENTENCES or sentence.score < EXTRA_SENTENCE_RATIO * best.score:
            break
        chosen.append(sentence)
    cited: list[int] = []
    parts = []
    for sentence in chosen:
        if sentence.passage not in cited:
            cited.append(sentence.passage)
        parts.append(f"{_sentence(sentence.text)} [{cited.index(sentence.passage) + 1}]")
    return Extract(" ".join(parts), cited)


def _sentence(text: str) -> str:
    text = _MARKER.sub("", text).strip()
    return text if text[-1:] in ".!?:;" else f"{text}."


def pieces(text: str) -> list[str]:
    """``text`` cut into word-sized pieces (each with its leading space), streamed like tokens."""
    return re.findall(r"\s*\S+", text)
