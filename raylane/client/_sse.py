"""An incremental Server-Sent Events decoder: bytes in, whatever their chunking, events out.

Follows the HTML event-stream format: lines end with ``\\r\\n``, ``\\n`` or ``\\r``; a blank
line ends an event; ``data`` lines are joined with ``\\n``; lines starting with ``:`` are
comments (keep-alives); ``id`` and ``retry`` are ignored (the SDK never reconnects a chat).
Lines are split on bytes before decoding, so a UTF-8 character cut between two network
chunks decodes whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

_BOM = "\ufeff"


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event: its type (``message`` when the stream names none) and data."""

    event: str
    data: str


class SSEDecoder:
    """Feed it the body's chunks in order; it yields each event once its blank line arrives."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._event = ""
        self._data: list[str] = []
        self._first_line = True

    def feed(self, chunk: bytes) -> Iterator[ServerSentEvent]:
        """The events completed by ``chunk``."""
        self._buffer += chunk
        yield from self._drain(final=False)

    def close(self) -> Iterator[ServerSentEvent]:
        """The events completed by the end of the body; an unterminated last event is dropped,
        as the format requires (it may be cut short)."""
        yield from self._drain(final=True)
        self._buffer.clear()
        self._event, self._data = "", []

    def _drain(self, *, final: bool) -> Iterator[ServerSentEvent]:
        while (line := self._next_line(final=final)) is not None:
            event = self._line(line)
            if event is not None:
                yield event

    def _next_line(self, *, final: bool) -> str | None:
        buffer = self._buffer
        ends = [i for i in (buffer.find(b"\n"), buffer.find(b"\r")) if i >= 0]
        if not ends:
            return None
        end = min(ends)
        step = 1
        if buffer[end] == ord("\r"):
            if end + 1 == len(buffer) and not final:
                return None  # a "\n" may follow in the next chunk: one line end, not two
            if buffer[end + 1 : end + 2] == b"\n":
                step = 2
        line = bytes(buffer[:end]).decode("utf-8", errors="replace")
        del buffer[: end + step]
        return line

    def _line(self, line: str) -> ServerSentEvent | None:
        if self._first_line:
            self._first_line = False
            line = line.removeprefix(_BOM)
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        event, data = self._event, self._data
        self._event, self._data = "", []
        if not data:
            return None
        return ServerSentEvent(event or "message", "\n".join(data))
