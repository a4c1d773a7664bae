"""Reading labeled rows (JSON Lines or CSV) strictly, before anything is stored.

Every row needs a non-empty ``text`` and a ``label`` (a string, or an integer written as one);
``split`` is optional and, when given, one of :data:`SPLITS`. Other fields are ignored. A bad
row is refused with its line number; nothing is stored. What is stored is the normalised form:
one compact JSON object per line with ``text``, ``label`` and (when given) ``split``, so every
reader (the training job's Ray Data read above all) sees one format whatever was uploaded.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from raylane.errors import InvalidInput

SPLITS = ("train", "validation", "test")
MAX_ROWS = 1_000_000
MAX_TEXT_CHARS = 100_000
MAX_LABEL_CHARS = 200
MAX_LABELS = 1_000
FORMATS = ("jsonl", "csv")


@dataclass(frozen=True)
class Row:
    text: str
    label: str
    split: str | None = None

    def as_json(self) -> dict[str, str]:
        out = {"text": self.text, "label": self.label}
        if self.split is not None:
            out["split"] = self.split
        return out


@dataclass
class Parsed:
    """Rows read and counted; ``data`` is the normalised JSON Lines to store."""

    format: str
    data: bytes
    row_count: int
    label_counts: dict[str, int] = field(default_factory=dict)
    splits: dict[str, int] = field(default_factory=dict)


def guess_format(filename: str | None, data: bytes) -> str:
    """``jsonl`` or ``csv``: by the file's extension, else by its first non-blank byte."""
    name = (filename or "").lower()
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".csv", ".tsv")):
        return "csv"
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return "jsonl" if head == b"{" else "csv"


def _text(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the file is not UTF-8 text (byte {exc.start})") from exc
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise InvalidInput(f"line {line}: contains a NUL character")
    return text


def _label(value: Any, line: int) -> str:
    # An integer label is a class name written as digits; a bool or a float is almost surely a
    # mistake (a regression target, a flag) and is refused.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInput(f"line {line}: label must be a string or an integer")
    label = str(value).strip()
    if not label:
        raise InvalidInput(f"line {line}: label is empty")
    if len(label) > MAX_LABEL_CHARS:
        raise InvalidInput(f"line {line}: label is longer than {MAX_LABEL_CHARS} characters")
    return label


def _row(record: dict[str, Any], line: int) -> Row:
    if "text" not in record:
        raise InvalidInput(f"line {line}: text is missing")
    if "label" not in record or record["label"] is None:
        raise InvalidInput(f"line {line}: label is missing")
    text = record["text"]
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"line {line}: text must be a non-empty string")
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInput(f"line {line}: text is longer than {MAX_TEXT_CHARS} characters")
    split = record.get("split")
    if split in (None, ""):
        split = None
    elif split not in SPLITS:
        raise InvalidInput(f"line {line}: split must be one of {', '.join(SPLITS)} or empty")
    return Row(text, _label(record["label"], line), split)


def _jsonl(text: str) -> Iterator[Row]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_constant=_no_constant)
        except ValueError as exc:
            raise InvalidInput(f"line {number}: not valid JSON ({exc})") from exc
        if not isinstance(record, dict):
            raise InvalidInput(f"line {number}: must be a JSON object")
        yield _row(record, number)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _csv(text: str) -> Iterator[Row]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise InvalidInput("the file is empty")
        columns = [h.strip() for h in header]
        for needed in ("text", "label"):
            if needed not in columns:
                raise InvalidInput(f"line 1: the header has no {needed!r} column")
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(columns):
                raise InvalidInput(
                    f"line {line}: {len(values)} fields where the header has {len(columns)}"
                )
            yield _row(dict(zip(columns, values, strict=True)), line)
    except csv.Error as exc:
        raise InvalidInput(f"line {reader.line_num}: {exc}") from exc


def normalise(rows: Iterable[Row], *, format: str) -> Parsed:
    """Count and serialise ``rows``; refuses an empty set, a single class or too many labels.

    Raises:
        InvalidInput: no rows, more than :data:`MAX_ROWS`, fewer than two labels, or more than
            :data:`MAX_LABELS`.
    """
    labels: Counter[str] = Counter()
    splits: Counter[str] = Counter()
    out = io.StringIO()
    count = 0
    for row in rows:
        count += 1
        if count > MAX_ROWS:
            raise InvalidInput(f"more than {MAX_ROWS} rows")
        labels[row.label] += 1
        if row.split is not None:
            splits[row.split] += 1
        out.write(json.dumps(row.as_json(), ensure_ascii=False, separators=(",", ":")))
        out.write("\n")
        if len(labels) > MAX_LABELS:
            raise InvalidInput(f"more than {MAX_LABELS} distinct labels")
    if count == 0:
        raise InvalidInput("the file holds no rows")
    if len(labels) < 2:
        raise InvalidInput("a labeled dataset needs at least two distinct labels")
    return Parsed(
        format=format,
        data=out.getvalue().encode("utf-8"),
        row_count=count,
        label_counts=dict(sorted(labels.items())),
        splits=dict(sorted(splits.items())),
    )


def parse(data: bytes, *, filename: str | None = None, format: str | None = None) -> Parsed:
    """Read an uploaded file whole and return its normalised form.

    Args:
        data: The file's bytes.
        filename: Its name, for the format (``.jsonl``/``.csv``).
        format: ``jsonl`` or ``csv``, overriding the guess.

    Raises:
        InvalidInput: the first problem found, naming its line.
    """
    if format is not None and format not in FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}")
    kind = format or guess_format(filename, data)
    text = _text(data)
    rows = _jsonl(text) if kind == "jsonl" else _csv(text)
    return normalise(rows, format=kind)
