"""Streaming-safe redaction of model output.

``StreamRedactor`` takes the output chunk by chunk and emits text as soon as it is safe:
everything except a bounded tail that could still be the beginning of a match. An email
or a key split across two chunks is therefore still redacted, and the concatenation of
everything emitted equals ``redact_pii(whole_text)``.

How the tail is chosen. Each detector's matches have a bounded length, and every
detector only looks a few characters around a match (see ``detectors``). After each
chunk the redactor re-scans the pending text (plus ``_KEEP`` characters already emitted,
as context) and finds the earliest position from which the end of the text is a prefix of
some possible match, using the ``_PARTIALS`` patterns below. They over-approximate on
purpose: holding back too much only delays output, holding back too little would leak.

The one exception to exact equality: when more than ``max_hold`` characters would be held
(say an unterminated private-key block), the oldest are released anyway, redacting any
complete match they contain, so memory stays bounded.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import replace

from raylane.core.guardrails.detectors import (
    CONTEXT_CHARS,
    LABEL_WORDS,
    PII_TYPES,
    Finding,
    detect_pii,
    redact,
)
from raylane.core.guardrails.policy import Action, GuardrailPolicy, Stage

_KEEP = 2 * CONTEXT_CHARS  # emitted characters kept as left context for the next scan
# Characters of single-word matches (emails, IPs, keys, tokens, URLs) and their lookaheads.
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.%+-@/=~:'")
_PEM_SEP = r"(?:\\n|\s)"
_PARTIALS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(rx)
    for rx in (
        # Digit groups with separators: phones, cards, SSNs (none spans 50 characters).
        r"(?:\(\+|[+(])?(?:\d[\d ().\-/]{0,60})?\Z",
        # IBAN in print format (the compact form is one word).
        r"(?<![A-Za-z0-9])[A-Z]{2}\d\d(?: ?[A-Za-z0-9]){0,30} ?\Z",
        # A key-ish label whose value may still follow ("api key: ", "password is").
        r"(?i)(?<![a-z0-9])(?:" + LABEL_WORDS + r")[a-z0-9_ -]{0,24}(?:[\"']?\s{0,3}"
        r"(?:(?::=|=>|[:=]|is\b)\s{0,3}(?:(?:bearer|basic|token)\s+)?[\"']?"
        r"[^\s\"'`<>,;]{0,256})?)?\Z",
        # A URL whose user:password part is being written ("postgres://app:s3cr").
        r"(?i)(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{1,20}:(?:/(?:/[^\s/@\"'<>]{0,200})?)?\Z",
        # "Bearer <token>" with no header name: the token may still be growing.
        r"(?i)(?<![a-z0-9])bearer(?:[ \t]+[A-Za-z0-9._~+/=-]{0,1100})?\Z",
        # A private-key header being written.
        r"-----BEGIN[A-Z0-9 ]{0,52}-{0,5}\Z",
        # A private-key block: complete body lines, then a partial line or footer. Atomic
        # so trailing prose fails fast instead of backtracking through every line.
        r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY-----(?>(?:" + _PEM_SEP + r"+(?:[A-Za-z0-9+/]"
        r"{16,100}={0,2}|[A-Za-z0-9+/]{0,100}={1,2}|[A-Za-z-]{3,20}: ?[^\s\\]{1,100}))*)"
        r"(?:" + _PEM_SEP + r"+(?:[A-Za-z0-9+/]{0,100}={0,2}|[A-Za-z-]{1,20}(?:: ?[^\s\\]"
        r"{0,100})?|-{1,5}(?:END[A-Z0-9 ]{0,52}-{0,5})?))?" + _PEM_SEP + r"*\\?\Z",
    )
)


def _wordish(c: str) -> bool:
    # Combining marks (Indic vowel signs, Thai) are part of words in addresses but not alnum.
    return c in _WORD_CHARS or c.isalnum() or unicodedata.category(c)[0] == "M"


def _begin(finding: Finding) -> int:
    return finding.start if finding.anchor is None else finding.anchor


class StreamRedactor:
    """Redact PII and secrets from a stream of text chunks.

    Example::

        redactor = StreamRedactor()
        for chunk in model_stream:
            send(redactor.feed(chunk))
        send(redactor.finish())

    Args:
        types: detector names to redact (``detectors.PII_TYPES``); all when None.
        max_hold: most characters held back at once; beyond it the oldest are released.
    """

    def __init__(self, types: Iterable[str] | None = None, *, max_hold: int = 8192) -> None:
        if max_hold < 64:
            raise ValueError("max_hold must be at least 64 characters")
        self._types = tuple(PII_TYPES if types is None else types)
        detect_pii("", self._types)  # fail now on an unknown type, not mid-stream
        self._max_hold = max_hold
        self._ctx = ""  # tail of what was already emitted, raw
        self._buf = ""  # received, not yet emitted, raw
        self._base = 0  # stream offset of _buf[0]
        self._findings: list[Finding] = []
        self._finished = False

    @classmethod
    def from_policy(
        cls, policy: GuardrailPolicy, *, stage: Stage = Stage.OUTPUT, max_hold: int = 8192
    ) -> StreamRedactor:
        """A redactor for the detectors ``policy`` enables on ``stage``.

        Sent text cannot be recalled, so ``block`` detectors are redacted here as well;
        check ``findings`` to stop the stream. ``flag`` detectors are left to ``evaluate``
        on the full output.
        """
        types = [
            name
            for name in PII_TYPES
            if (rule := policy.active(name, stage)) is not None and rule.action is not Action.FLAG
        ]
        return cls(types, max_hold=max_hold)

    @property
    def findings(self) -> list[Finding]:
        """What was redacted so far, with offsets into the raw stream."""
        return list(self._findings)

    @property
    def pending(self) -> int:
        """Characters received but held back."""
        return len(self._buf)

    def feed(self, chunk: str) -> str:
        """Add a chunk; return the redacted text that is now safe to send (maybe empty).

        Raises:
            RuntimeError: called after ``finish``.
        """
        if self._finished:
            raise RuntimeError("feed() after finish()")
        self._buf += chunk
        return self._drain(final=False)

    def finish(self) -> str:
        """End the stream and return the rest of the redacted text."""
        if self._finished:
            return ""
        self._finished = True
        return self._drain(final=True)

    def _drain(self, *, final: bool) -> str:
        text = self._ctx + self._buf
        off = len(self._ctx)
        cut = len(text) if final else self._hold_from(text, off)
        if cut == off and len(text) - off <= self._max_hold:
            return ""  # everything pending may still grow into a match: skip the scan
        hits = detect_pii(text, self._types, start=off)
        if not final:
            cut = self._settle(cut, len(text), hits)
        done = [h for h in hits if h.end <= cut]
        out = redact(text[off:cut], done, offset=off)
        shift = self._base - off
        self._findings += [
            replace(h, start=h.start + shift, end=h.end + shift, anchor=_begin(h) + shift)
            for h in done
        ]
        self._base += cut - off
        self._ctx = text[max(0, cut - _KEEP) : cut]
        self._buf = text[cut:]
        return out

    @staticmethod
    def _hold_from(text: str, off: int) -> int:
        """Earliest position from which the end of ``text`` could still become a match."""
        cut = len(text)
        while cut > off and _wordish(text[cut - 1]):
            cut -= 1  # the trailing word may still grow into an address or a key
        for pattern in _PARTIALS:
            m = pattern.search(text, off)
            if m is not None and m.start() < cut:
                cut = m.start()
        return cut

    def _settle(self, cut: int, size: int, hits: list[Finding]) -> int:
        """Move ``cut`` off complete matches, and forward when over ``max_hold``."""
        for h in reversed(hits):  # never cut a complete match (or its label) in two
            if _begin(h) < cut < h.end:
                cut = _begin(h)
        if size - cut > self._max_hold:
            cut = size - self._max_hold
            for h in hits:  # forced release: take the whole match, redacted, never half
                if _begin(h) < cut < h.end:
                    cut = h.end
        return cut
