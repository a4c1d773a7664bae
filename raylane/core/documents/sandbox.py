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
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raylane.core.documents.parsing import ParsedDoc, parse
from raylane.errors import InvalidInput, PayloadTooLarge

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


def child_main(header: dict[str, Any]) -> None:
    """Entry point of the child: set limits, read the file, print the result as JSON."""
    _apply_limits(header)
    result: dict[str, Any]
    try:
        data = sys.stdin.buffer.read()
        if header.get("op") == "describe":
            result = _describe()
        else:
            docs = parse(
                data,
                filename=header["filename"],
                mime=header.get("mime"),
                text_field=header.get("text_field"),
                max_pdf_pages=header.get("max_pdf_pages"),
            )
            result = {"docs": [asdict(d) for d in docs]}
    except PayloadTooLarge as exc:
        result = {"error": "too_large", "detail": exc.detail}
    except InvalidInput as exc:
        result = {"error": "invalid", "detail": exc.detail}
    except MemoryError:
        result = {"error": "memory"}
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
