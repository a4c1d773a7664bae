"""The classifier's logic without Ray or servers: dataset rows, metrics, the safetensors
artifact, and the per-epoch checkpoint the training loop resumes from."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from raylane.core.training.classifier import (
    Classifier,
    Head,
    evaluate,
    label_map,
    load_head,
    parse_examples,
    save_head,
    train_epoch,
)
from raylane.core.training.loop import _restore, _save
from raylane.errors import InvalidInput


class TestParse:
    def test_jsonl_with_and_without_splits(self) -> None:
        data = b'{"text": "a", "label": "x", "split": "test"}\n\n{"text": "b", "label": 1}\n'
        rows = parse_examples(data)
        assert [(r.text, r.label) for r in rows] == [("a", "x"), ("b", "1")]
        assert rows[0].split == "heldout"
        assert rows[1].split in ("train", "heldout")
        # The hash split is stable: the same rows split the same way on every worker.
        assert parse_examples(data) == rows

    def test_csv(self) -> None:
        rows = parse_examples(
            b"text,label,split\nhello,greet,train\nbye,part,validation\n", fmt="csv"
        )
        assert [(r.label, r.split) for r in rows] == [("greet", "train"), ("part", "heldout")]

    @pytest.mark.parametrize(
        ("data", "line"),
        [
            (b'{"text": "a", "label": "x"}\n{"text": "", "label": "y"}\n', "line 2"),
            (b'{"text": "a"}\n', "line 1"),
            (b'{"text": "a", "label": "x"}\nnot json\n', "line 2"),
            (b'["a", "x"]\n', "line 1"),
            (b'{"text": "a", "label": "x", "split": "dev"}\n', "line 1"),
        ],
    )
    def test_bad_rows_name_their_line(self, data: bytes, line: str) -> None:
        with pytest.raises(InvalidInput, match=line):
            parse_examples(data)

    def test_labels_sorted(self) -> None:
        rows = parse_examples(b'{"text":"a","label":"b"}\n{"text":"c","label":"a"}\n')
        assert label_map(rows) == ["a", "b"]


class TestEvaluate:
    def test_accuracy_macro_f1_and_confusion_matrix(self) -> None:
        y_true = np.array([0, 0, 1, 1, 2, 2])
        y_pred = np.array([0, 1, 1, 1, 2, 0])
        scores = evaluate(y_true, y_pred, 3)
        assert scores["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
        assert scores["accuracy"] == pytest.approx(4 / 6)
        f1 = [2 * 0.5 * 0.5 / 1.0, 2 * (2 / 3) * 1 / (2 / 3 + 1), 2 * 1 * 0.5 / 1.5]
        assert scores["macro_f1"] == pytest.approx(sum(f1) / 3)

    def test_classes_absent_from_the_held_out_set_do_not_count(self) -> None:
        scores = evaluate(np.array([0, 0]), np.array([0, 0]), 3)
        assert scores["macro_f1"] == 1.0


def separable(n: int = 60, dim: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 3
    x = torch.randn(n, dim, generator=g) * 0.1
    x[torch.arange(n), y] += 2.0
    return x, y


class TestArtifact:
    def test_round_trip_predicts_the_same(self) -> None:
        x, y = separable()
        torch.manual_seed(0)
        head = Head(8, 3, hidden=16)
        optimizer = torch.optim.AdamW(head.parameters(), lr=0.05)
        for _ in range(20):
            losses = list(train_epoch(head, optimizer, [(x, y)]))
        assert losses[-1] < 0.2
        model = Classifier(head=head, labels=["a", "b", "c"], encoder="all-MiniLM-L6-v2")
        loaded = load_head(save_head(model))
        assert loaded.labels == ["a", "b", "c"] and loaded.head.hidden == 16
        np.testing.assert_allclose(
            loaded.predict_vectors(x.numpy()), model.predict_vectors(x.numpy()), atol=1e-6
        )
        assert (loaded.predict_vectors(x.numpy()).argmax(1) == y.numpy()).mean() > 0.95

    def test_a_pickle_is_refused_and_never_run(self, tmp_path: Path) -> None:
        marker = tmp_path / "ran"

        class Exploit:
            def __reduce__(self) -> tuple[Any, ...]:
                return (Path.touch, (marker,))

        for data in (pickle.dumps(Exploit()), b"", b"\x08" + b"\x00" * 7 + b"{}", b"garbage"):
            with pytest.raises(InvalidInput):
                load_head(data)
        assert not marker.exists()

    def test_other_safetensors_are_refused(self) -> None:
        from safetensors.torch import save

        with pytest.raises(InvalidInput):
            load_head(save({"w": torch.zeros(2)}, metadata={"labels": json.dumps(["a"])}))


class TestCheckpoint:
    def test_resume_restores_weights_optimizer_and_epoch(self, tmp_path: Path) -> None:
        x, y = separable()
        torch.manual_seed(0)
        head = Head(8, 3)
        optimizer = torch.optim.AdamW(head.parameters(), lr=0.05)
        list(train_epoch(head, optimizer, [(x, y)]))
        _save(str(tmp_path), head, optimizer, epoch=4)
        list(train_epoch(head, optimizer, [(x, y)]))  # where an uninterrupted run goes next

        resumed = Head(8, 3)
        resumed_opt = torch.optim.AdamW(resumed.parameters(), lr=0.05)
        assert _restore(str(tmp_path), resumed, resumed_opt) == 4
        list(train_epoch(resumed, resumed_opt, [(x, y)]))
        for a, b in zip(head.parameters(), resumed.parameters(), strict=True):
            torch.testing.assert_close(a, b)  # same step as without the interruption
