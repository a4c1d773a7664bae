"""Dataset rows and the run filter language, as pure logic (no servers)."""

from __future__ import annotations

import re

import pytest

from raylane.core.datasets import rows
from raylane.core.experiments import filters
from raylane.errors import InvalidInput
from raylane.schemas.experiments import FILTER_PATTERN


def test_csv_and_jsonl_of_the_same_rows_normalise_alike() -> None:
    jsonl = b'{"text": "a, b", "label": "x", "split": "train"}\n{"text": "c", "label": 2}\n'
    csv = b'text,label,split\n"a, b",x,train\nc,2,\n'
    one, two = rows.parse(jsonl, filename="f.jsonl"), rows.parse(csv, filename="f.csv")
    assert one.data == two.data
    assert one.label_counts == {"2": 1, "x": 1} and one.splits == {"train": 1}


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b'{"text": "a", "label": "x"}\n\n\n{"label": "y"}\n', "line 4"),
        (b"text,label\r\na,x\r\nb\r\n", "line 3"),
        (b'{"text": "a", "label": "x"}\n{"text": "b", "label": true}\n', "line 2"),
    ],
)
def test_a_bad_row_is_named_by_its_line(data: bytes, line: str) -> None:
    with pytest.raises(InvalidInput, match=line):
        rows.parse(data)


def test_filters_read_what_the_pattern_says() -> None:
    valid = [
        "metric.accuracy > 0.8",
        "metric.`val loss` <= 1e-3 and tag.team = 'nlp and vision'",
        "param.lr != \"0.1\" and status = 'finished'",
        "tag.note = 'it\\'s'",
    ]
    for text in valid:
        assert re.fullmatch(FILTER_PATTERN, text), text
        assert filters.parse(text)
    parsed = filters.parse(valid[1])
    assert [(c.kind, c.key, c.op, c.value) for c in parsed] == [
        ("metric", "val loss", "<=", 0.001),
        ("tag", "team", "=", "nlp and vision"),
    ]
    assert filters.parse(valid[3])[0].value == "it's"


@pytest.mark.parametrize(
    "text", ["", "accuracy > 0.8", "metric.a > high", "tag.t > 'a'", "metric.a > 1e999", "status"]
)
def test_anything_else_is_refused(text: str) -> None:
    assert re.fullmatch(FILTER_PATTERN, text) is None
    with pytest.raises(InvalidInput, match="filter"):
        filters.parse(text)
