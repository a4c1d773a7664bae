"""Extractive answers: markdown to sentences, scoring, the refusal, follow-ups, the repeat stop."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from raylane.config import Settings
from raylane.core.collections.search import Hit
from raylane.core.copilot import grounding
from raylane.core.copilot.engine import RepeatGuard
from raylane.core.copilot.grounding import REFUSAL


def hit(text: str, score: float = 0.6, name: str = "doc.md") -> Hit:
    return Hit(
        chunk_id=uuid.uuid4(),
        document_id=uuid.uuid4(),
        document_name=name,
        chunk_index=0,
        text=text,
        score=score,
        metadata={},
    )


class TestSentences:
    def test_markdown_syntax_headings_code_and_table_pipes_are_dropped(self) -> None:
        text = (
            "# Scaling\n\n"
            "## Embeddings\n"
            "Embeddings run in **two places**. See [the guide](guide.md) for `THREADS`.\n\n"
            "```python\nprint('not prose')\n```\n\n"
            "| name | vectors |\n|---|---|\n| `all-MiniLM-L6-v2` | 384 dims, unit length |\n\n"
            "- **Ingest jobs** run as Ray jobs.\n"
        )
        sentences = grounding.split_sentences(text)
        assert sentences == [
            "Embeddings run in two places.",
            "See the guide for THREADS.",
            "name; vectors",
            "all-MiniLM-L6-v2; 384 dims, unit length",
            "Ingest jobs run as Ray jobs.",
        ]
        assert not any("#" in s or "|" in s or "print" in s or "`" in s for s in sentences)

    def test_abbreviations_and_setting_names_survive(self) -> None:
        text = "Set a URL, e.g. Postgres on a socket. Then RAYLANE_LLM__BACKEND=openai is used."
        assert grounding.split_sentences(text) == [
            "Set a URL, e.g. Postgres on a socket.",
            "Then RAYLANE_LLM__BACKEND=openai is used.",
        ]

    def test_a_chunk_that_starts_mid_sentence_loses_the_fragment(self) -> None:
        passage = hit("ports from settings, a short dir. The dashboard listens on port 8265.")
        answer = grounding.extract("Which port does the dashboard listen on?", [passage])
        assert answer.text == "The dashboard listens on port 8265. [1]"


class TestScoring:
    def test_the_sentence_with_the_question_words_wins_over_the_passage_order(self) -> None:
        passages = [
            hit("Ray starts first. Redis holds the rate limits.", score=0.7),
            hit("Embedding vectors of the default model have 384 dimensions.", score=0.5),
        ]
        answer = grounding.extract("How many dimensions do embedding vectors have?", passages)
        assert answer.text.startswith("Embedding vectors of the default model")
        assert "384" in answer.text and answer.cited == [2]
        assert answer.text.endswith("[1]")  # markers number the cited passages, in order

    def test_a_number_is_preferred_when_the_question_asks_for_one(self) -> None:
        passages = [hit("The reconciler loop retries runs. The reconciler loop runs every 1 s.")]
        ranked = grounding.score_sentences("How often does the reconciler loop run?", passages)
        assert ranked[0].text == "The reconciler loop runs every 1 s."

    def test_the_answer_is_one_to_three_sentences_each_with_its_marker(self) -> None:
        text = " ".join(f"Quota rule {i} limits the daily token quota." for i in range(6))
        answer = grounding.extract("What limits the daily token quota?", [hit(text)])
        assert 1 <= answer.text.count("[1]") <= grounding.MAX_SENTENCES
        assert answer.text.startswith("Quota rule") and answer.cited == [1]

    def test_identifiers_count_whole_and_by_part(self) -> None:
        assert {"hnsw.ef_search", "hnsw", "ef", "search"} <= grounding.keywords(
            "Which hnsw.ef_search value?"
        )
        assert grounding.keywords("the document's embeddings") == grounding.keywords(
            "document embedding"
        )


class TestRefusal:
    def test_no_passages_or_distant_passages_give_the_fixed_sentence_and_no_citation(
        self,
    ) -> None:
        assert grounding.extract("When is the launch?", []) == grounding.Extract(REFUSAL, [])
        far = [hit("The launch is in May.", score=grounding.MIN_PASSAGE_SCORE - 0.01)]
        answer = grounding.extract("What is the capital of Australia?", far)
        assert answer.text == REFUSAL and answer.refused and answer.cited == []

    def test_a_question_about_something_no_passage_mentions_is_refused(self) -> None:
        # Close in meaning (the project's name is in both), but nothing about iPhones.
        passages = [hit("The Serve app raylane has four deployments.", score=0.55)]
        assert grounding.extract("Is there a Raylane app for iPhone?", passages).refused

    def test_a_weak_passage_needs_a_shared_word(self) -> None:
        weak = grounding.WEAK_PASSAGE_SCORE - 0.05
        assert grounding.extract("When is the launch?", [hit("Launch in May.", weak)]).cited == [1]
        assert grounding.extract("Who won the cup?", [hit("Launch in May.", weak)]).refused

    def test_the_launch_in_may_example_answers_the_month(self) -> None:
        answer = grounding.extract("When is the launch?", [hit("The launch is in May.", 0.68)])
        assert answer.text == "The launch is in May. [1]"


class TestFollowUps:
    @pytest.mark.parametrize(
        ("question", "follow_up"),
        [
            ("How many dimensions do its vectors have?", True),
            ("What about that?", True),
            ("Where are they configured?", True),
            ("Why?", True),
            ("Which embedding model do collections use by default?", False),
        ],
    )
    def test_short_questions_and_pronouns_are_follow_ups(
        self, question: str, follow_up: bool
    ) -> None:
        assert grounding.is_follow_up(question) is follow_up

    def test_a_follow_up_is_retrieved_with_the_previous_user_turn(self) -> None:
        history = [
            {"role": "user", "content": "Which embedding model is the default?"},
            {"role": "assistant", "content": "all-MiniLM-L6-v2."},
        ]
        assert (
            grounding.retrieval_query("How many dimensions do its vectors have?", history)
            == "Which embedding model is the default? How many dimensions do its vectors have?"
        )
        standalone = "Which embedding model do collections use by default?"
        assert grounding.retrieval_query(standalone, history) == standalone
        assert grounding.retrieval_query("Where are they?", []) == "Where are they?"

    def test_a_follow_up_is_scored_with_the_previous_turn(self) -> None:
        history = [{"role": "user", "content": "Which tool enforces the import rules?"}]
        passages = [
            hit("Settings are configured in .env files by default.", 0.45),
            hit("Import rules are enforced by import-linter contracts in pyproject.toml.", 0.5),
        ]
        answer = grounding.extract("Where are they configured?", passages, history)
        assert answer.text.startswith("Import rules are enforced")


class TestModes:
    @pytest.mark.parametrize(
        ("llm", "bundled", "mode"),
        [
            ({}, None, "extractive"),
            ({"model_path": "/models/big.gguf"}, None, "generative"),
            ({"backend": "openai"}, None, "generative"),
            ({}, False, "generative"),
            ({"grounding": "generative"}, True, "generative"),
            ({"backend": "openai", "grounding": "extractive"}, None, "extractive"),
        ],
    )
    def test_auto_is_extractive_only_for_the_bundled_model(
        self, llm: dict[str, Any], bundled: bool | None, mode: str
    ) -> None:
        settings = Settings(env="test", secret_key="k" * 40, llm=llm)
        assert grounding.auto_mode(settings, bundled=bundled) == mode


class TestRepeatStop:
    def test_a_repeated_sentence_stops_the_stream_and_short_ones_do_not(self) -> None:
        guard = RepeatGuard()
        stream = ["Yes.", " Yes.", " Scale the", " Embedder replicas.", " Then", " rest."]
        assert [guard.feed(piece) for piece in stream] == [False] * 6
        assert guard.feed(" Scale the Embedder") is False  # not finished yet
        assert guard.feed(" replicas [2].") is True  # the same sentence, another marker

    def test_pieces_keep_the_text(self) -> None:
        text = "The launch is in May. [1]"
        assert "".join(grounding.pieces(text)) == text and len(grounding.pieces(text)) == 6
