"""Turn an uploaded file into plain text: text, Markdown, HTML, PDF and JSON Lines.

Every rejection is an ``InvalidInput`` whose message names the file, so an ingest run can tell the
user exactly which upload was bad and why, instead of failing with a 500 or indexing garbage.
"""

from __future__ import annotations

import codecs
import io
import itertools
import json
import logging
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Any, Literal

from raylane.errors import InvalidInput, PayloadTooLarge

logger = logging.getLogger(__name__)

Format = Literal["text", "markdown", "html", "pdf", "jsonl"]


_BY_MIME: dict[str, Format] = {
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
    "application/x-ndjson": "jsonl",
}
_BY_EXT: dict[str, Format] = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

# C0 controls except tab/newline/vertical tab/form feed/carriage return, DEL, and C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_MAX_CONTROL_RATIO = 0.05  # real text has almost none; binary decoded by luck has ~20%


@dataclass(frozen=True, slots=True)
class ParsedDoc:
    """One document's text, an optional title, and format-specific metadata."""

    text: str
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def _tidy(text: str) -> str:
    # Per-line rstrip, not re.sub(r"[ \t]+\n"): that regex is quadratic on long blank runs.
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _invalid(filename: str, reason: str) -> InvalidInput:
    return InvalidInput(f"{filename!r}: {reason}", filename=filename)


def detect_format(data: bytes, *, filename: str, mime: str | None = None) -> Format:
    """Pick the parser: a specific MIME type, else the extension, else the content itself.

    ``text/plain`` and ``application/octet-stream`` are what browsers send for almost anything,
    so only specific types override the extension.

    Args:
        data: the file's bytes (only the start is looked at).
        filename: the uploaded name; only its extension is used.
        mime: the declared content type, parameters such as ``charset`` allowed.
    """
    declared = (mime or "").split(";", 1)[0].strip().lower()
    if declared in _BY_MIME:
        return _BY_MIME[declared]
    ext = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    if ext in _BY_EXT:
        return _BY_EXT[ext]
    if declared == "text/plain":
        return "text"
    return _sniff(data)


def _sniff(data: bytes) -> Format:
    if b"%PDF-" in data[:1024]:  # readers accept the header anywhere in the first KiB
        return "pdf"
    head = data[:4096].decode("utf-8", errors="ignore").lstrip("\ufeff \t\r\n")
    lowered = head[:1024].lower()
    if lowered.startswith(("<!doctype html", "<html")) or "<html" in lowered:
        return "html"
    if head.startswith("{"):
        try:
            if isinstance(json.loads(head.split("\n", 1)[0]), dict):
                return "jsonl"
        except ValueError:
            pass
    if re.match(r"#{1,6}[ \t]+\S", head):
        return "markdown"
    return "text"


def parse(
    data: bytes,
    *,
    filename: str,
    mime: str | None = None,
    text_field: str | None = None,
    max_pdf_pages: int | None = None,
) -> list[ParsedDoc]:
    """Parse one uploaded file into documents (one, or one per record for JSON Lines).

    This parses in the calling process, with no time or memory bound: untrusted uploads go
    through ``raylane.core.documents.sandbox.parse_isolated``, which runs this in a child.

    Args:
        data: the file's bytes.
        filename: the uploaded name; picks the format by extension and appears in errors.
        mime: the declared content type, if any.
        text_field: for JSON Lines, the field holding the text (default ``text``, then
            ``content``).
        max_pdf_pages: refuse PDFs with more pages (checked before any page is read).

    Returns:
        The parsed documents, never empty.

    Raises:
        InvalidInput: the file is empty, binary, not UTF-8/UTF-16 text, an unreadable PDF or
            one without extractable text, or JSON Lines that is malformed or has no records.
        PayloadTooLarge: a PDF has more than ``max_pdf_pages`` pages.
    """
    if not data:
        raise _invalid(filename, "file is empty")
    fmt = detect_format(data, filename=filename, mime=mime)
    if fmt == "pdf":
        return [_parse_pdf(data, filename, max_pages=max_pdf_pages)]
    text = _decode(data, filename)
    if fmt == "jsonl":
        return _parse_jsonl(text, filename, text_field)
    if fmt == "markdown":
        doc = _parse_markdown(text)
    elif fmt == "html":
        doc = _parse_html(text, filename)
    else:
        doc = ParsedDoc(text=text.strip())
    if not doc.text.strip():
        raise _invalid(filename, f"no text found in this {fmt} file")
    return [doc]


def _decode(data: bytes, filename: str) -> str:
    """UTF-8 (BOM optional) or UTF-16 with a BOM; newlines normalized to ``\\n``."""
    if data.startswith(codecs.BOM_UTF8):
        body, encoding = data[len(codecs.BOM_UTF8) :], "utf-8"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        body, encoding = data, "utf-16"  # the codec reads the BOM to pick the byte order
    else:
        if b"\x00" in data:
            raise _invalid(filename, "looks binary (contains NUL bytes); expected UTF-8 text")
        body, encoding = data, "utf-8"
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _invalid(
            filename, f"is not valid {encoding.upper()} text (bad bytes at offset {exc.start})"
        ) from exc
    controls = len(_CONTROL.findall(text))
    if "\x00" in text or controls > _MAX_CONTROL_RATIO * len(text):
        raise _invalid(filename, "looks binary (too many control characters)")
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- Markdown: keep the words, drop the markup ------------------------------------------------

_FRONT_END = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.M)
_FRONT_TITLE = re.compile(r"^title:(.*)$", re.M)
_ATX = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+(.*))?$")
_SETEXT = re.compile(r"^ {0,3}(?:=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]+\S")
_QUOTE = re.compile(r"^(?: {0,3}>[ ]?)+")
# Spans are bounded ({1,500}) so one huge line full of unmatched markers stays linear, not
# quadratic: an upload must never be able to stall an ingest job.
_INLINE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"!\[([^\]\n]{0,500})\]\([^)\n]{0,500}\)"), r"\1"),  # images keep their alt
    (re.compile(r"\[([^\]\n]{1,500})\]\([^)\n]{0,500}\)"), r"\1"),  # links keep their label
    (re.compile(r"\[([^\]\n]{1,500})\]\[[^\]\n]{0,500}\]"), r"\1"),  # reference links
    (re.compile(r"(`{1,3})([^`\n]{1,500})\1"), r"\2"),  # inline code keeps its content
    (re.compile(r"(\*\*|__)(?=\S)([^\n]{1,500}?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?=\S)([^\n]{1,500}?)(?<=\S)\*(?![\w*])"), r"\1"),
    # Underscores only at word edges, so snake_case identifiers survive.
    (re.compile(r"(?<!\w)_(?=\S)([^\n]{1,500}?)(?<=\S)_(?!\w)"), r"\1"),
    (re.compile(r"~~([^\n]{1,500}?)~~"), r"\1"),
    (re.compile(r"</?[A-Za-z][^<>\n]{0,500}>"), ""),  # inline HTML tags
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])"), r"\1"),  # backslash escapes
]


def _strip_inline(line: str) -> str:
    for pattern, repl in _INLINE:
        line = pattern.sub(repl, line)
    return line


def _heading_text(content: str) -> str:
    # Drop an optional closing "###"; done by hand because a regex for it backtracks badly.
    content = content.strip()
    bare = content.rstrip("#")
    if bare != content and (not bare or bare[-1] in " \t"):
        content = bare.rstrip()
    return content


def _parse_markdown(text: str) -> ParsedDoc:
    title: str | None = None
    front_end = _FRONT_END.search(text, 4) if text.startswith("---\n") else None
    if front_end:  # YAML front matter: only its title is of use
        found = _FRONT_TITLE.search(text, 4, front_end.start())
        title = found.group(1).strip().strip("'\"") if found else None
        text = text[front_end.end() :]
    lines: list[str] = []
    is_code: list[bool] = []
    in_fence: str | None = None
    for line in text.split("\n"):
        fence = _FENCE.match(line)
        if fence and (in_fence is None or fence.group(1) == in_fence):
            in_fence = fence.group(1) if in_fence is None else None
            continue
        if in_fence is not None:
            lines.append(line)  # code stays verbatim
            is_code.append(True)
            continue
        if lines and not is_code[-1] and lines[-1].strip() and _SETEXT.match(line):
            title = title or lines[-1].strip()  # the line above was a heading; drop the underline
            continue
        if _RULE.match(line) or _REF_DEF.match(line):
            continue
        heading = _ATX.match(line)
        if heading:
            line = _heading_text(heading.group(1) or "")
            title = title or line
        lines.append(line if heading else _QUOTE.sub("", line))
        is_code.append(False)
    # One regex pass per run of prose lines rather than per line: ~10x faster on long files.
    blocks = []
    for code, group in itertools.groupby(zip(is_code, lines, strict=True), key=lambda x: x[0]):
        block = "\n".join(line for _, line in group)
        blocks.append(block if code else _strip_inline(block))
    body = _tidy("\n".join(blocks))
    return ParsedDoc(text=body, title=_strip_inline(title).strip() or None if title else None)


# --- HTML: text of the page, minus scripts, styles and navigation -----------------------------

_SKIP_TAGS = frozenset({"script", "style", "nav", "noscript", "template", "svg"})
_BLOCK_TAGS = frozenset(
    {"p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote", "pre"}
    | {"ul", "ol", "dl", "table", "figure", "figcaption", "form", "fieldset", "details", "hr"}
    | {"summary", "address", "h1", "h2", "h3", "h4", "h5", "h6", "body"}
)
_LINE_TAGS = frozenset({"br", "li", "tr", "dt", "dd", "option", "caption"})
_CELL_TAGS = frozenset({"td", "th"})
_SPACES = re.compile(r"\s+")


class _HTMLText(HTMLParser):
    """Collects visible text with paragraph breaks; a blank line between blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self.h1_parts: list[str] = []
        self._pending = 0  # newlines owed before the next text
        self._skip = 0
        self._pre = 0
        self._in_title = False
        self._in_h1 = False
        self._h1_done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "h1" and not self._h1_done:
            self._in_h1 = True
        if tag == "pre":
            self._pre += 1
        self._break(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS and self._skip:
            self._skip -= 1
        elif tag == "title":
            self._in_title = False
        elif tag == "h1" and self._in_h1:
            self._in_h1, self._h1_done = False, True
        elif tag == "pre" and self._pre:
            self._pre -= 1
        self._break(tag)

    def _break(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self._pending = 2
        elif tag in _LINE_TAGS:
            self._pending = max(self._pending, 1)
        elif tag in _CELL_TAGS and self.parts and not self._pending:
            self.parts.append(" ")

    def parse_marked_section(self, i: int, report: bool = True) -> int:
        # The stdlib asserts on malformed "<![...": skip it as a browser skips a bogus comment.
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            end = self.rawdata.find(">", i + 3)
            return -1 if end < 0 else end + 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
            return
        if self._skip:
            return
        if self._in_h1:
            self.h1_parts.append(data)
        if not self._pre:
            data = _SPACES.sub(" ", data)
            if self._pending or not self.parts or self.parts[-1].endswith((" ", "\n")):
                data = data.lstrip(" ")
            if not data:
                return
        if self._pending and self.parts:
            self.parts[-1] = self.parts[-1].rstrip(" ")
            self.parts.append("\n" * self._pending)
        self._pending = 0
        self.parts.append(data)


def _parse_html(text: str, filename: str) -> ParsedDoc:
    parser = _HTMLText()
    try:
        parser.feed(text)
        parser.close()
    except AssertionError as exc:  # html.parser reports some malformed markup this way
        raise _invalid(filename, f"malformed HTML ({exc})") from exc
    body = _tidy("".join(parser.parts))
    title = _SPACES.sub(" ", "".join(parser.title_parts or parser.h1_parts)).strip()
    return ParsedDoc(text=body, title=title or None)


# --- PDF ----------------------------------------------------------------------------------------


def _parse_pdf(data: bytes, filename: str, *, max_pages: int | None = None) -> ParsedDoc:
    from pypdf import PdfReader  # imported lazily: only PDF uploads pay for it

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise _invalid(filename, "PDF is password-protected")
        count = len(reader.pages)  # from the page tree, before any page's content is read
        if max_pages is not None and count > max_pages:
            raise PayloadTooLarge(
                f"{filename!r}: PDF has {count} pages, more than the limit of {max_pages}",
                filename=filename,
            )
        pages = list(reader.pages)
        info = reader.metadata
        raw_title = info.title if info is not None else None
    except (InvalidInput, PayloadTooLarge, MemoryError):  # the sandbox reports memory as 413
        raise
    except Exception as exc:  # pypdf signals malformed files with many exception types
        raise _invalid(filename, f"not a readable PDF ({type(exc).__name__}: {exc})") from exc

    parts: list[str] = []
    spans: list[dict[str, int]] = []
    offset = 0
    for number, page in enumerate(pages, start=1):
        try:
            raw = page.extract_text() or ""
        except MemoryError:
            raise
        except Exception as exc:  # one broken page should not sink the others
            logger.warning("pdf page %d unreadable: %s", number, exc, extra={"file": filename})
            continue
        page_text = raw.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n").strip()
        if not page_text:
            continue
        if parts:
            offset += 2  # the "\n\n" joining pages
        spans.append({"page": number, "start": offset, "end": offset + len(page_text)})
        parts.append(page_text)
        offset += len(page_text)
    if not parts:
        raise _invalid(filename, "PDF has no extractable text (scanned pages need OCR)")
    title = str(raw_title).strip() if raw_title else ""
    return ParsedDoc(
        text="\n\n".join(parts),
        title=title or None,
        metadata={"pages": spans, "page_count": len(pages)},
    )


# --- JSON Lines ---------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON and cannot be stored in a JSONB column.
    raise ValueError(f"{name} is not valid JSON")


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _parse_jsonl(text: str, filename: str, text_field: str | None) -> list[ParsedDoc]:
    candidates = (text_field,) if text_field else ("text", "content")
    docs: list[ParsedDoc] = []
    # split("\n"), not splitlines(): U+2028 and friends are legal inside a JSON line.
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_constant=_reject_constant)
        except ValueError as exc:
            raise _invalid(filename, f"line {lineno}: invalid JSON ({exc})") from exc
        except RecursionError as exc:  # the parser recurses once per level: refuse, don't crash
            raise _invalid(filename, f"line {lineno}: JSON nested too deeply") from exc
        if not isinstance(record, dict):
            raise _invalid(filename, f"line {lineno}: expected a JSON object")
        name = next((c for c in candidates if c in record), None)
        if name is None:
            wanted = " or ".join(repr(c) for c in candidates)
            raise _invalid(filename, f"line {lineno}: no {wanted} field")
        value = record[name]
        if not isinstance(value, str) or not value.strip():
            raise _invalid(filename, f"line {lineno}: field {name!r} must be a non-empty string")
        metadata = {k: v for k, v in record.items() if k != name and _is_scalar(v)}
        # Postgres text and JSONB both refuse NUL, so stop it here with a useful message.
        if "\x00" in value or any(isinstance(v, str) and "\x00" in v for v in metadata.values()):
            raise _invalid(filename, f"line {lineno}: contains a NUL character")
        title = record.get("title")
        docs.append(
            ParsedDoc(
                text=value.replace("\r\n", "\n").strip(),
                title=(title.strip() or None) if isinstance(title, str) else None,
                metadata=metadata,
            )
        )
    if not docs:
        raise _invalid(filename, "JSON Lines file has no records")
    return docs
