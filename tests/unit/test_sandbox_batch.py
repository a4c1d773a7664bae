"""One sandboxed parser child for many files: same outcomes per file, one child per batch."""

from __future__ import annotations

import json
import subprocess

import pytest

from raylane.core.documents import sandbox
from raylane.core.documents.parsing import parse
from raylane.core.documents.sandbox import ParseFile, ParseLimits, parse_isolated_many
from raylane.errors import InvalidInput, PayloadTooLarge
from tests.unit.test_parsing import SECRETS, make_pdf, slow_pdf


def test_each_file_gets_the_outcome_it_would_get_alone() -> None:
    pdf = make_pdf(["Hello PDF world", "Second page"], title="My Doc")
    files = [
        ParseFile(pdf, "doc.pdf"),
        ParseFile(make_pdf([""]), "scan.pdf"),
        ParseFile(slow_pdf(pages=3, ops_per_page=100_000), "slow.pdf"),
        ParseFile(b"word " * (12 * 2**20), "big.txt"),
        ParseFile(make_pdf(["p"] * 4), "many.pdf"),
        ParseFile(b'{"text": "a"}\n{"text": "b"}\n', "r.jsonl"),
    ]
    limits = ParseLimits(wall_s=3, memory_bytes=160 * 2**20, max_pdf_pages=3)
    out = parse_isolated_many(files, limits=limits)
    assert out[0] == parse(pdf, filename="doc.pdf")
    assert isinstance(out[1], InvalidInput) and "no extractable text" in out[1].detail
    assert isinstance(out[2], InvalidInput) and "took too long to parse" in out[2].detail
    assert isinstance(out[3], PayloadTooLarge) and "MiB to parse" in out[3].detail
    assert isinstance(out[4], PayloadTooLarge) and "limit of 3" in out[4].detail
    # A file after the hostile ones parses as usual: each failed alone.
    assert out[5] == parse(files[5].data, filename="r.jsonl")


def test_cpu_limit_holds_per_file() -> None:
    out = parse_isolated_many(
        [
            ParseFile(slow_pdf(pages=3, ops_per_page=100_000), "slow.pdf"),
            ParseFile(b"fine", "ok.txt"),
        ],
        limits=ParseLimits(cpu_s=1, wall_s=60),
    )
    assert isinstance(out[0], InvalidInput) and "took too long" in out[0].detail
    assert out[1] == parse(b"fine", filename="ok.txt")


def test_one_child_process_for_the_whole_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[list[str]] = []
    popen = subprocess.Popen

    def counting(args: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        started.append(args)
        return popen(args, **kwargs)  # type: ignore[call-overload,no-any-return]

    monkeypatch.setattr(sandbox.subprocess, "Popen", counting)
    files = [ParseFile(f"document {i}".encode(), f"d{i}.txt") for i in range(12)]
    out = parse_isolated_many(files)
    assert [d[0].text for d in out if isinstance(d, list)] == [f"document {i}" for i in range(12)]
    assert len(started) == 1


def test_parsers_in_a_batch_hold_no_secret_and_run_under_rlimits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    limits = ParseLimits(cpu_s=7, memory_bytes=512 * 2**20, wall_s=30)
    header = {
        "op": "parse_many",
        "files": [{"op": "describe", "filename": "x", "size": 0}] * 2,
        "wall_s": 30,
        "max_pdf_pages": 10,
    }
    code, out = sandbox.run_child(header, b"", limits)
    assert code == 0, out
    lines = out.splitlines()
    assert len(lines) == 2
    for line in lines:
        entry = json.loads(line)
        assert entry["code"] == 0
        seen = json.loads(entry["out"])
        assert not set(seen["env"]) & set(SECRETS)
        assert not [v for v in seen["env"].values() if "hunter2" in v or "ray-token" in v]
        assert seen["limits"] == {
            "RLIMIT_CPU": 7,
            "RLIMIT_AS": 512 * 2**20,
            "RLIMIT_FSIZE": 0,
            "RLIMIT_CORE": 0,
        }
        # stdin/stdout on /dev/null, stderr, the result pipe, the one listing /proc/self/fd
        assert len(seen["fds"]) == 5
