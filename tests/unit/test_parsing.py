"""Parsing uploads into text: every format, and every way a file can be refused."""

from __future__ import annotations

import codecs
import json
import os
import re

import pytest

from raylane.core.documents.parsing import ParsedDoc, detect_format, parse
from raylane.errors import InvalidInput


def _pdf_string(text: str) -> str:
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def make_pdf(pages: list[str], *, title: str | None = None) -> bytes:
    """A minimal valid PDF: one Helvetica text line per page, with a correct xref table."""
    n = len(pages)
    font_id, first_page = 3, 4
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + " ".join(f"{first_page + 2 * i} 0 R" for i in range(n)).encode()
        + f"] /Count {n} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, text in enumerate(pages):
        content = f"BT /F1 18 Tf 72 720 Td {_pdf_string(text)} Tj ET".encode() if text else b""
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
            f" /Contents {first_page + 2 * i + 1} 0 R"
            f" /Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    if title is not None:
        objects.append(f"<< /Title {_pdf_string(title)} >>".encode())
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    info = f" /Info {len(objects)} 0 R" if title is not None else ""
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\n".encode()
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _one(data: bytes, filename: str, mime: str | None = None) -> ParsedDoc:
    docs = parse(data, filename=filename, mime=mime)
    assert len(docs) == 1
    return docs[0]


class TestPlainText:
    def test_utf8_text_keeps_its_characters_and_normalises_newlines(self) -> None:
        doc = _one("Grüße aus Köln.\r\nZweite Zeile.\n".encode(), "notes.txt")
        assert doc.text == "Grüße aus Köln.\nZweite Zeile."
        assert doc.title is None

    def test_utf8_byte_order_mark_is_dropped(self) -> None:
        assert _one(codecs.BOM_UTF8 + b"hello", "a.txt").text == "hello"

    @pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
    def test_utf16_with_bom(self, encoding: str) -> None:
        bom = codecs.BOM_UTF16_LE if encoding.endswith("le") else codecs.BOM_UTF16_BE
        assert _one(bom + "naïve café ✓".encode(encoding), "u.txt").text == "naïve café ✓"

    def test_unknown_extension_is_text(self) -> None:
        assert _one(b"def f():\n    return 1\n", "script.py").text == "def f():\n    return 1"


class TestMarkdown:
    SOURCE = """\
Intro line before any heading.

# The **Main** Title #

Some *emphasis*, __strong__, `code`, a [link](https://example.com) and ![alt text](img.png).
snake_case_names stay intact.

> quoted words

```python
x = "*not emphasis*"
```

---
## Second
- item one
[ref]: https://example.com/ref
"""

    def test_markup_stripped_and_first_heading_is_title(self) -> None:
        doc = _one(self.SOURCE.encode(), "readme.md")
        assert doc.title == "The Main Title"
        assert "The Main Title" in doc.text
        assert "Some emphasis, strong, code, a link and alt text." in doc.text
        assert "snake_case_names stay intact." in doc.text
        assert "quoted words" in doc.text and "> quoted" not in doc.text
        assert 'x = "*not emphasis*"' in doc.text  # code is kept verbatim
        assert "```" not in doc.text and "https://" not in doc.text
        assert "Second" in doc.text and "## " not in doc.text
        assert "- item one" in doc.text

    def test_setext_heading_and_front_matter(self) -> None:
        doc = _one(b"Big Title\n=========\n\nBody.\n", "a.markdown")
        assert (doc.title, doc.text) == ("Big Title", "Big Title\n\nBody.")
        front = _one(b"---\ntitle: 'From Front'\ntags: [a]\n---\n# Heading\nBody\n", "b.md")
        assert front.title == "From Front"
        assert "tags" not in front.text

    def test_mime_picks_markdown(self) -> None:
        assert _one(b"# T\nbody", "upload", mime="text/markdown; charset=utf-8").title == "T"


class TestHtml:
    PAGE = b"""<!DOCTYPE html><html><head><title> Quarterly   Report </title>
<style>body { color: red }</style><script>var secret = "nope";</script></head>
<body><nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<h1>Results</h1><p>Revenue grew by <b>12%</b>&nbsp;this quarter &amp; more.</p>
<p>Second
   paragraph.</p><ul><li>one</li><li>two</li></ul>
<pre>  indented
    code</pre><noscript>enable js</noscript></body></html>"""

    def test_visible_text_with_blocks_separated(self) -> None:
        doc = _one(self.PAGE, "report.html")
        assert doc.title == "Quarterly Report"
        # &nbsp; becomes a plain space like any other run of whitespace
        assert doc.text.startswith("Results\n\nRevenue grew by 12% this quarter & more.")
        assert "\n\nSecond paragraph.\n\none\ntwo" in doc.text
        assert "  indented\n    code" in doc.text
        for hidden in ("secret", "color", "Home", "About", "enable js", "Quarterly"):
            assert hidden not in doc.text

    def test_title_falls_back_to_first_h1(self) -> None:
        doc = _one(
            b"<html><body><h1>Only <i>H1</i></h1><h1>Later</h1><p>x</p></body></html>", "a.htm"
        )
        assert doc.title == "Only H1"

    def test_sniffed_without_extension(self) -> None:
        assert detect_format(b"<!doctype html><p>hi</p>", filename="page") == "html"


class TestPdf:
    def test_text_per_page_with_page_spans(self) -> None:
        data = make_pdf(["Hello PDF world (page one)", "", "Third page text"], title="My Doc")
        doc = _one(data, "doc.pdf")
        assert "Hello PDF world (page one)" in doc.text
        assert "Third page text" in doc.text
        assert doc.title == "My Doc"
        assert doc.metadata["page_count"] == 3
        pages = doc.metadata["pages"]
        assert [p["page"] for p in pages] == [1, 3]  # the blank page has no span
        for span in pages:
            assert doc.text[span["start"] : span["end"]].strip()
        assert "Third page text" in doc.text[pages[1]["start"] : pages[1]["end"]]

    def test_detected_by_content_and_mime(self) -> None:
        data = make_pdf(["sniffed"])
        assert "sniffed" in _one(data, "upload.bin").text
        assert "sniffed" in _one(data, "upload", mime="application/pdf").text

    def test_no_extractable_text(self) -> None:
        with pytest.raises(InvalidInput, match=r"scan\.pdf.*no extractable text"):
            parse(make_pdf([""]), filename="scan.pdf")

    @pytest.mark.parametrize(
        "data", [b"%PDF-1.4\nthis is not really a pdf", b"%PDF-1.7\n" + os.urandom(300), b"plain"]
    )
    def test_unreadable_pdf_is_refused_naming_the_file(self, data: bytes) -> None:
        with pytest.raises(InvalidInput, match=r"broken\.pdf.*not a readable PDF"):
            parse(data, filename="broken.pdf")


class TestJsonl:
    def test_one_doc_per_record_with_scalar_metadata(self) -> None:
        lines = [
            {"text": "first", "title": "T1", "id": 1, "score": 0.5, "ok": True, "x": None},
            {"content": "second", "tags": ["dropped"], "nested": {"dropped": 1}},
        ]
        data = ("\n".join(json.dumps(r) for r in lines) + "\n\n").encode()
        docs = parse(data, filename="data.jsonl")
        assert [d.text for d in docs] == ["first", "second"]
        assert docs[0].title == "T1"
        assert docs[0].metadata == {"title": "T1", "id": 1, "score": 0.5, "ok": True, "x": None}
        assert docs[1].metadata == {}

    def test_configurable_text_field(self) -> None:
        data = b'{"body": "the body", "text": "meta now"}\n'
        [doc] = parse(data, filename="d.ndjson", text_field="body")
        assert doc.text == "the body"
        assert doc.metadata == {"text": "meta now"}

    @pytest.mark.parametrize(
        ("data", "reason"),
        [
            (b'{"text": "ok"}\n{"text": broken}\n', r"line 2: invalid JSON"),
            (b'{"text": "ok"}\n\n[1, 2]\n', r"line 3: expected a JSON object"),
            (b'{"text": "ok"}\n{"body": "x"}\n', r"line 2: no 'text' or 'content' field"),
            (b'{"text": 5}\n', r"line 1: field 'text' must be a non-empty string"),
            (b'{"text": "a", "v": NaN}\n', r"line 1: invalid JSON"),
            (b'{"text": "a\\u0000b"}\n', r"line 1: contains a NUL"),
        ],
    )
    def test_bad_lines_name_file_and_line(self, data: bytes, reason: str) -> None:
        with pytest.raises(InvalidInput, match=rf"rows\.jsonl.*{reason}"):
            parse(data, filename="rows.jsonl")

    def test_jsonl_without_records_is_refused(self) -> None:
        for data in (b"\n", b"\n   \n\t\n"):
            with pytest.raises(InvalidInput, match=r"rows\.jsonl.*no records"):
                parse(data, filename="rows.jsonl", mime="application/x-ndjson")


class TestRejections:
    @pytest.mark.parametrize(
        ("data", "filename", "reason"),
        [
            (b"", "empty.txt", "empty"),
            (b"   \n\t ", "blank.md", "no text"),
            (b"\n\n", "blank.txt", "no text"),
            (b"abc\x00def", "nul.txt", "binary"),
            (bytes(range(1, 32)) * 10 + b"some text", "ctrl.txt", "binary"),
            (b"caf\xe9 latin-1", "latin.txt", "not valid UTF-8"),
            (os.urandom(2048).replace(b"\x00", b"\x01"), "random.bin", "(binary|not valid UTF-8)"),
            (codecs.BOM_UTF16_LE + b"a", "odd.txt", "not valid UTF-16"),
            (b"<html><script>x()</script><nav>menu</nav></html>", "empty.html", "no text"),
        ],
    )
    def test_refused_with_file_named(self, data: bytes, filename: str, reason: str) -> None:
        with pytest.raises(InvalidInput) as info:
            parse(data, filename=filename)
        assert filename in str(info.value)
        assert info.value.extra["filename"] == filename
        assert info.value.code == "validation_error"
        assert re.search(reason, str(info.value))

    def test_mime_wins_over_generic_extension_but_not_text_plain(self) -> None:
        assert detect_format(b"x", filename="a.txt", mime="application/pdf") == "pdf"
        assert detect_format(b"x", filename="a.md", mime="text/plain") == "markdown"
        assert detect_format(b"x", filename="a.md", mime="application/octet-stream") == "markdown"
        assert detect_format(b'{"text": "a"}\n', filename="blob") == "jsonl"
        assert detect_format(b"# Title\n", filename="blob") == "markdown"
        assert detect_format(b"just words", filename="blob") == "text"


class TestHostileInput:
    @pytest.mark.parametrize("unit", ["**a ", "![", "[x", "*a ", "_a ", " \t"])
    def test_long_lines_of_unclosed_markup(self, unit: str) -> None:
        # Guards against regexes that go quadratic on one huge line (they would stall ingest).
        data = ("# T" + unit * (20_000 // len(unit)) + "x\n").encode()
        [doc] = parse(data, filename="hostile.md")
        assert doc.text.endswith("x")

    def test_malformed_html_declarations_are_skipped(self) -> None:
        data = b"<html><![bogus[ x ]]><![#- p'p!#a?#/<p>kept</p><![if !lists]>also<![endif]>"
        [doc] = parse(data, filename="odd.html")
        assert "kept" in doc.text and "also" in doc.text


# --- untrusted bytes parse in a bounded child process ------------------------------------------


def slow_pdf(pages: int = 3, ops_per_page: int = 300_000) -> bytes:
    """A ~10 KB PDF whose text extraction takes seconds a page: long compressed content streams
    of tiny text operators, each page under pypdf's own per-stream token budget."""
    import zlib

    n = pages
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids ["
        + " ".join(f"{4 + 2 * i} 0 R" for i in range(n)).encode()
        + f"] /Count {n} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i in range(n):
        content = zlib.compress(b"BT /F1 12 Tf " + b"(x%d) Tj " % i * ops_per_page + b"ET", 9)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {5 + 2 * i} 0 R"
            " /Resources << /Font << /F1 3 0 R >> >> >>".encode()
        )
        objects.append(
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content)
            + content
            + b"\nendstream"
        )
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


SECRETS = {
    "RAYLANE_DATABASE_URL": "postgresql://raylane_app:hunter2@db/raylane",
    "RAYLANE_DATABASE_OWNER_URL": "postgresql://owner:hunter2@db/raylane",
    "RAYLANE_SECRET_KEY": "k" * 40,
    "RAYLANE_REDIS_URL": "redis://:hunter2@redis:6379/0",
    "RAYLANE_STORAGE__SECRET_ACCESS_KEY": "hunter2",
    "RAY_AUTH_TOKEN": "ray-token",
    "RAY_ADDRESS": "ray://head:10001",
    "AWS_SECRET_ACCESS_KEY": "hunter2",
    "PYTHONPATH": "/somewhere/else",
}


class TestSandbox:
    def test_child_environment_is_an_allow_list(self) -> None:
        from raylane.core.documents.sandbox import child_env

        env = child_env({**SECRETS, "PATH": "/usr/bin", "LANG": "C.UTF-8", "LC_ALL": "C"})
        assert env == {"PATH": "/usr/bin", "LANG": "C.UTF-8", "LC_ALL": "C"}

    def test_real_child_holds_no_secret_and_runs_under_rlimits(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from raylane.core.documents.sandbox import ParseLimits, run_child

        for name, value in SECRETS.items():
            monkeypatch.setenv(name, value)
        limits = ParseLimits(cpu_s=7, memory_bytes=512 * 2**20, wall_s=30)
        code, out = run_child({"op": "describe"}, b"", limits)
        assert code == 0, out
        seen = json.loads(out)
        assert not set(seen["env"]) & set(SECRETS)
        assert not [v for v in seen["env"].values() if "hunter2" in v or "ray-token" in v]
        assert seen["limits"] == {
            "RLIMIT_CPU": 7,
            "RLIMIT_AS": 512 * 2**20,
            "RLIMIT_FSIZE": 0,
            "RLIMIT_CORE": 0,
        }
        assert seen["fds"] == [0, 1, 2, 3]  # stdio, and the one listing /proc/self/fd

    def test_isolated_parse_matches_in_process_parse(self) -> None:
        from raylane.core.documents.sandbox import parse_isolated

        data = make_pdf(["Hello PDF world (page one)", "", "Third page text"], title="My Doc")
        assert parse_isolated(data, filename="doc.pdf") == parse(data, filename="doc.pdf")
        lines = b'{"text": "a", "id": 1}\n{"text": "b", "id": 2}\n'
        assert parse_isolated(lines, filename="r.jsonl") == parse(lines, filename="r.jsonl")

    def test_refusals_keep_their_kind_and_message(self) -> None:
        from raylane.core.documents.sandbox import ParseLimits, parse_isolated
        from raylane.errors import PayloadTooLarge

        with pytest.raises(InvalidInput, match=r"scan\.pdf.*no extractable text"):
            parse_isolated(make_pdf([""]), filename="scan.pdf")
        with pytest.raises(PayloadTooLarge, match=r"3 pages, more than the limit of 2"):
            parse_isolated(
                make_pdf(["a", "b", "c"]), filename="big.pdf", limits=ParseLimits(max_pdf_pages=2)
            )

    def test_slow_pdf_is_killed_at_the_deadline(self) -> None:
        import time

        from raylane.core.documents.sandbox import ParseLimits, parse_isolated

        start = time.monotonic()
        with pytest.raises(InvalidInput, match=r"slow\.pdf.*took too long to parse"):
            parse_isolated(slow_pdf(), filename="slow.pdf", limits=ParseLimits(wall_s=2))
        assert time.monotonic() - start < 10  # in process: ~25 s on this machine

    def test_cpu_limit_stops_a_parse_the_wall_clock_would_allow(self) -> None:
        from raylane.core.documents.sandbox import ParseLimits, parse_isolated

        with pytest.raises(InvalidInput, match="took too long"):
            parse_isolated(slow_pdf(), filename="slow.pdf", limits=ParseLimits(cpu_s=1, wall_s=60))

    def test_memory_hungry_file_is_413(self) -> None:
        from raylane.core.documents.sandbox import ParseLimits, parse_isolated
        from raylane.errors import PayloadTooLarge

        text = b"word " * (12 * 2**20)  # 60 MiB of text; decoding and tidying copy it
        with pytest.raises(PayloadTooLarge, match="MiB to parse"):
            parse_isolated(text, filename="big.txt", limits=ParseLimits(memory_bytes=96 * 2**20))
