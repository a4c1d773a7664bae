"""Parse untrusted uploads in a child process that holds nothing worth stealing.

Uploaded bytes (PDFs above all) are parsed by libraries with a history of denial-of-service
bugs. The parent holds the database URL, the secret key and the Ray token; the child gets an
allow-listed environment with none of them, no inherited file descriptors, rlimits on CPU time,
address space, file size and core dumps, and a wall-clock deadline after which it is killed.
Results come back as JSON (never a pickle: the child's output is as untrusted as its input).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raylane.core.documents.parsing import ParsedDoc, parse
from raylane.errors import InvalidInput, PayloadTooLarge, RaylaneError

if TYPE_CHECKING:
    from raylane.config import Settings

logger = logging.getLogger(__name__)

# What a parser may see of the parent's environment: locale and paths, nothing else. An
# allow-list, so a secret added to the platform later is excluded without anyone remembering.
_ENV_ALLOWED = frozenset({"PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"})

# The child is started with ``-I -S -B`` (no PYTHON* variables, no site, no bytecode writes) and
# told the parent's sys.path in its first line, before it reads any untrusted byte.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])
_BOOT = (
    "import json,sys;h=json.loads(sys.stdin.buffer.readline());sys.path[:0]=h['path'];"
    "from raylane.core.documents.sandbox import child_main;child_main(h)"
)


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Bounds on one file's parse: CPU seconds, address space, wall-clock seconds, PDF pages."""

    cpu_s: int = 30
    memory_bytes: int = 1024 * 1024 * 1024
    wall_s: float = 45.0
    max_pdf_pages: int = 2000

    @classmethod
    def from_settings(cls, settings: Settings) -> ParseLimits:
        """The limits of ``settings.documents``."""
        docs = settings.documents
        return cls(
            cpu_s=docs.parse_cpu_s,
            memory_bytes=docs.parse_memory_bytes,
            wall_s=docs.parse_timeout_s,
            max_pdf_pages=docs.max_pdf_pages,
        )


def child_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The parser's environment: allow-listed locale/path variables only, never a secret."""
    env = {k: v for k, v in environ.items() if k in _ENV_ALLOWED or k.startswith("LC_")}
    env.setdefault("PATH", "/usr/bin:/bin")
    return env


def parse_isolated(
    data: bytes,
    *,
    filename: str,
    mime: str | None = None,
    text_field: str | None = None,
    limits: ParseLimits | None = None,
) -> list[ParsedDoc]:
    """``parse`` in a bounded child process with a scrubbed environment (blocking).

    Args:
        data: the file's bytes.
        filename: the uploaded name; picks the format and appears in errors.
        mime: the declared content type, if any.
        text_field: for JSON Lines, the field holding the text.
        limits: CPU, memory, wall-clock and page bounds (defaults when None).

    Returns:
        The parsed documents, as ``parse`` returns them.

    Raises:
        InvalidInput: the file is unreadable (as ``parse`` says) or took too long to parse.
        PayloadTooLarge: the file needs more memory, or has more PDF pages, than allowed.
    """
    limits = limits or ParseLimits()
    header = {
        "op": "parse",
        "filename": filename,
        "mime": mime,
        "text_field": text_field,
        "max_pdf_pages": limits.max_pdf_pages,
    }
    code, out = run_child(header, data, limits)
    return _outcome(code, out, filename=filename, limits=limits)


def _outcome(code: int | str, out: bytes, *, filename: str, limits: ParseLimits) -> list[ParsedDoc]:
    """One parse's exit code and output as documents, or the error the file deserves."""
    if code == "timeout" or code == -signal.SIGXCPU or code == -signal.SIGKILL:
        raise InvalidInput(
            f"{filename!r}: took too long to parse (limit {limits.wall_s:g} s wall clock, "
            f"{limits.cpu_s} s CPU); split or simplify the file",
            filename=filename,
        )
    result = _decode(out)
    if code != 0 or result is None:  # crashed: a C-level allocation failure looks like this too
        raise InvalidInput(
            f"{filename!r}: could not be parsed within the limits "
            f"({limits.memory_bytes // 2**20} MiB of memory); split or simplify the file",
            filename=filename,
        )
    if "docs" in result:
        return [ParsedDoc(**doc) for doc in result["docs"]]
    error = PayloadTooLarge if result.get("error") == "too_large" else InvalidInput
    if result.get("error") == "memory":
        raise PayloadTooLarge(
            f"{filename!r}: needs more than {limits.memory_bytes // 2**20} MiB to parse",
            filename=filename,
        )
    raise error(str(result.get("detail", "unreadable file"))[:2000], filename=filename)


@dataclass(frozen=True, slots=True)
class ParseFile:
    """One file of a batch: its bytes and what ``parse`` needs to know about it."""

    data: bytes
    filename: str
    mime: str | None = None
    text_field: str | None = None


def parse_isolated_many(
    files: Sequence[ParseFile], *, limits: ParseLimits | None = None
) -> list[list[ParsedDoc] | RaylaneError]:
    """``parse_isolated`` for many files with one child process (blocking).

    Starting a child costs an interpreter and the parsers' imports (~70 ms); a batch pays it
    once. Isolation per file stays: the child is a supervisor that forks one grandchild per
    file, which alone applies ``limits`` (CPU, address space, no files, no core) and alone
    reads that file's bytes; the supervisor kills it at its wall-clock deadline. Every file
    gets the outcome ``parse_isolated`` would give it, so one hostile file fails alone.

    The isolation that matters is unchanged: no parser sees the platform's secrets. Between the
    files of one batch it is weaker (a grandchild is a copy of the supervisor, which read its
    neighbours' bytes), so a batch holds the files of one tenant only, as an ingest task does.

    Returns:
        Per file, in order: its parsed documents, or the InvalidInput / PayloadTooLarge that
        ``parse_isolated`` would have raised for it.
    """
    limits = limits or ParseLimits()
    if not files:
        return []
    header = {
        "op": "parse_many",
        "files": [
            {
                "filename": f.filename,
                "mime": f.mime,
                "text_field": f.text_field,
                "size": len(f.data),
            }
            for f in files
        ],
        "max_pdf_pages": limits.max_pdf_pages,
        "wall_s": limits.wall_s,
    }
    # The supervisor enforces each file's deadline; this bound only catches a stuck supervisor.
    total = ParseLimits(
        cpu_s=limits.cpu_s,
        memory_bytes=limits.memory_bytes,
        wall_s=limits.wall_s * len(files) + 30,
        max_pdf_pages=limits.max_pdf_pages,
    )
    code, out = run_child(header, b"".join(f.data for f in files), total)
    lines = out.splitlines() if code == 0 else []
    results: list[list[ParsedDoc] | RaylaneError] = []
    for i, f in enumerate(files):
        entry = _decode(lines[i]) if i < len(lines) else None
        if entry is None:  # the supervisor died or ran out of time before this file
            one: int | str = "timeout" if code == "timeout" else -signal.SIGKILL
            raw = b""
        else:
            one, raw = entry["code"], str(entry["out"]).encode()
        try:
            results.append(_outcome(one, raw, filename=f.filename, limits=limits))
        except (InvalidInput, PayloadTooLarge) as exc:
            results.append(exc)
    return results


def _decode(out: bytes) -> dict[str, Any] | None:
    try:
        result = json.loads(out)
    except ValueError:
        return None
    return result if isinstance(result, dict) else None


def run_child(header: dict[str, Any], data: bytes, limits: ParseLimits) -> tuple[int | str, bytes]:
    """Start one parser child, feed it ``header`` and ``data``, and wait at most ``wall_s``.

    Returns:
        The child's exit code (negative: killed by that signal) or ``"timeout"``, and its stdout.
    """
    header = {
        **header,
        # The package's own root first: an editable install finds it through a site hook,
        # which the child (started without site) does not run.
        "path": [_PACKAGE_ROOT, *(p for p in sys.path if p)],
        "cpu_s": limits.cpu_s,
        "memory_bytes": limits.memory_bytes,
    }
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-B", "-c", _BOOT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(os.environ),
        cwd=tempfile.gettempdir(),
        close_fds=True,
        start_new_session=True,  # a kill reaches nothing but the child
    )
    payload = json.dumps(header).encode() + b"\n" + data
    try:
        out, err = proc.communicate(payload, timeout=limits.wall_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        logger.warning(
            "parser killed after %.1f s", limits.wall_s, extra={"file": header.get("filename")}
        )
        return "timeout", b""
    if proc.returncode != 0:
        logger.warning(
            "parser exited with %s: %s",
            proc.returncode,
            err[-500:].decode(errors="replace"),
            extra={"file": header.get("filename")},
        )
    return proc.returncode, out


# --- in the child -------------------------------------------------------------------------------


def _apply_limits(header: dict[str, Any]) -> None:
    import resource

    cpu = int(header["cpu_s"])
    memory = int(header["memory_bytes"])
    # Soft CPU limit sends SIGXCPU; the hard one, a second later, SIGKILL.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # a parser writes no files
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _describe() -> dict[str, Any]:
    """What the child runs with (for tests and operators): environment names and limits."""
    import resource

    limits = {
        name: resource.getrlimit(getattr(resource, name))[0]
        for name in ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_CORE")
    }
    open_fds = (
        sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
        if os.path.isdir("/proc/self/fd")
        else []
    )
    return {"env": dict(os.environ), "limits": limits, "fds": open_fds}


def _parse_one(data: bytes, header: dict[str, Any]) -> dict[str, Any]:
    if header.get("op") == "describe":
        return _describe()
    try:
        docs = parse(
            data,
            filename=header["filename"],
            mime=header.get("mime"),
            text_field=header.get("text_field"),
            max_pdf_pages=header.get("max_pdf_pages"),
        )
        return {"docs": [asdict(d) for d in docs]}
    except PayloadTooLarge as exc:
        return {"error": "too_large", "detail": exc.detail}
    except InvalidInput as exc:
        return {"error": "invalid", "detail": exc.detail}
    except MemoryError:
        return {"error": "memory"}


def child_main(header: dict[str, Any]) -> None:
    """Entry point of the child: set limits, read the file, print the result as JSON."""
    if header.get("op") == "parse_many":
        _supervise(header)
        return
    _apply_limits(header)
    result: dict[str, Any]
    try:
        data = sys.stdin.buffer.read()
    except MemoryError:
        result = {"error": "memory"}
    else:
        result = _parse_one(data, header)
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()


def _supervise(header: dict[str, Any]) -> None:
    """The batch child: one forked grandchild per file, each under the limits, one at a time.

    The supervisor never parses: it reads one file's bytes, forks, and waits for the result up
    to the file's deadline. It writes one JSON line per file: ``{"code": ..., "out": ...}``, the
    exit code and output ``run_child`` would have returned for that file alone.
    """
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for item in header["files"]:
        data = sys.stdin.buffer.read(int(item["size"]))
        code, out = _fork_parse(data, {**header, "op": "parse", **item})
        line = json.dumps({"code": code, "out": out.decode("utf-8", errors="replace")})
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _fork_parse(data: bytes, header: dict[str, Any]) -> tuple[int | str, bytes]:
    """Parse ``data`` in a forked grandchild under the limits; kill it at the deadline."""
    import select
    import time

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the grandchild: limits first, then the untrusted bytes
        status = 1
        try:
            os.close(read_end)
            # Stray prints of a parser must not corrupt the supervisor's line protocol.
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.close(null)
            _apply_limits(header)
            with os.fdopen(write_end, "wb") as out:
                out.write(json.dumps(_parse_one(data, header)).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    deadline = time.monotonic() + float(header["wall_s"])
    chunks: list[bytes] = []
    timed_out = False
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([pipe], [], [], left)[0]:
                timed_out = True
                break
            chunk = pipe.read(1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        return "timeout", b""
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    return code, b"".join(chunks)
