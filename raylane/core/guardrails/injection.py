"""Prompt-injection and jailbreak scoring from weighted signals.

Each signal is a pattern with a weight in (0, 1); the score combines the distinct signals
that fire as a noisy-OR, ``1 - prod(1 - w)``: one strong signal is enough, several weak ones
add up, and the result stays in [0, 1]. The text is also scanned in normalized forms
(leetspeak, spaced-out letters, underscores) and, for short encoded blobs (base64, hex,
rot13), in decoded form, because attackers obfuscate exactly the phrases this looks for.

Patterns catch the common phrasings, not paraphrases or most other languages, so a learned
head over the MiniLM embedding (``semantic``) adds one more signal, ``semantic``, weighted by
its probability when that reaches ``SEMANTIC_FLOOR`` (chosen by cross-validation on the
training and development sets: below it the head flags too many texts that merely discuss
attacks). Neither catches a determined adversary; treat the score as one signal.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from dataclasses import dataclass

from raylane.core.guardrails import semantic

DEFAULT_THRESHOLD = 0.5
SEMANTIC_FLOOR = 0.7


@dataclass(frozen=True, slots=True)
class Signal:
    """A named pattern and how strongly a match suggests an injection."""

    name: str
    weight: float
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class SignalMatch:
    """A signal that fired, with the (normalized) text that triggered it."""

    name: str
    weight: float
    evidence: str


@dataclass(frozen=True, slots=True)
class InjectionResult:
    """Score in [0, 1], the signals behind it, and the verdict at ``threshold``."""

    score: float
    signals: tuple[SignalMatch, ...]
    threshold: float

    @property
    def is_injection(self) -> bool:
        return self.score >= self.threshold


def _s(name: str, weight: float, rx: str) -> Signal:
    return Signal(name, weight, re.compile(rx, re.IGNORECASE | re.MULTILINE))


_NOT = r"(?<!n't )(?<!not )(?<!never )"  # "don't forget the previous instructions" is benign
_VERB = r"(?:ignores?|disregards?|forget|override|bypass|skip|abandon|discard)"
_WHICH = r"(?:previous|prior|above|earlier|preceding|initial|original|system|developer|all|any"
_WHICH += r"|your|my|other|those|these|existing|current)"
_RULES = r"(?:instructions?|prompts?|rules|directives?|directions|guidelines|constraints"
_RULES += r"|polic(?:y|ies)|programming|orders|(?:system|developer) messages?)"
_FREE = r"(?:restrictions|limitations|limits|filters?|rules|guidelines|censorship|guardrails"
_FREE += r"|content polic(?:y|ies)|ethical|moral|safety)"

SIGNALS: tuple[Signal, ...] = (
    _s(
        "ignore_instructions",
        0.85,
        _NOT + rf"\b{_VERB}\b[^.!?\n]{{0,40}}?\b(?:{_WHICH}\b[^.!?\n]{{0,20}}?\b{_RULES}"
        r"|(?:system|developer) (?:message|prompt))\b"
        r"|\b(?:forget|disregard|ignore)\s+(?:everything|anything|all(?: of)? that)\s+(?:you"
        r" (?:were|have been) (?:told|given|taught)|(?:said |written )?(?:above|before|earlier))",
    ),
    _s(
        "ignore_instructions_multilingual",
        0.8,
        r"\b(?:ignora|ignorez|ignorer|ignoriere|oublie[zr]?|olvida|vergiss|dimentica)\b"
        r"[^.\n]{0,30}\b(?:instrucciones|instructions|anweisungen|istruzioni|instruções"
        r"|regeln|règles|reglas)\b",
    ),
    _s(
        "rules_revoked",
        0.6,
        r"\b(?:previous|prior|earlier|above|old|all)\s+(?:\w+\s+)?(?:polic(?:y|ies)|rules"
        r"|instructions|directives)\s+(?:is|are|were|have been)\s+(?:now\s+)?(?:revoked|void"
        r"|cancel+ed|invalid|null|obsolete|lifted)",
    ),
    _s(
        "new_instructions",
        0.35,
        r"\b(?:new|updated|real|actual|true)\s+(?:instructions?|rules?|directives?"
        r"|system prompt|task|role|persona)\s*(?::|are\b|is\b)",
    ),
    _s(
        "from_now_on",
        0.3,
        r"\b(?:from now on|from this point (?:on|forward)|for the rest of this "
        r"(?:chat|conversation|session))\b",
    ),
    _s(
        "no_restrictions",
        0.6,
        rf"\b(?:no|without(?: any)?|free of|freed from|free from)\s+(?:\w+\s+){{0,2}}{_FREE}"
        r"|\b(?:not|no longer)\s+(?:be\s+)?(?:bound|restricted|limited)\s+by\b"
        r"|\bno longer (?:have|need) to (?:follow|obey)\b",
    ),
    _s(
        "disable_safety",
        0.55,
        r"\b(?:bypass|disable|turn off|switch off|ignore|remove|lift)\s+(?:\w+\s+){0,2}"
        r"(?:safety|content|moderation)?\s*(?:filters?|restrictions|guardrails|polic(?:y|ies)"
        r"|guidelines|safeguards)\b"
        r"|\brestrictions (?:are|have been) (?:lifted|removed|disabled|off)\b",
    ),
    _s(
        "do_not_follow",
        0.6,
        r"\b(?:do not|don't|never|stop)\s+(?:follow|obey)(?:ing)?\s+(?:your|the|any)\s+"
        r"(?:\w+\s+)?(?:rules|instructions|guidelines|polic(?:y|ies))\b",
    ),
    _s(
        "never_refuse",
        0.5,
        r"\b(?:never|do not|don't|must not|cannot|can't)\s+(?:refuse|decline|say no"
        r"|apologi[sz]e|add (?:a |any )?disclaimers?)\b",
    ),
    _s("no_disclaimers", 0.35, r"\bno (?:disclaimers|warnings|caveats)\b"),
    _s(
        "dan",
        0.7,
        r"\bdo anything now\b|\b(?:you are|you're|pretend to be|act as|be)\s+(?:now\s+)?DAN\b",
    ),
    _s("dan_name", 0.4, r"(?-i:\bDAN\b)"),
    _s(
        "jailbreak_mode",
        0.6,
        r"\bjailbr(?:oken|eak(?:ed)? mode)\b|\b(?:unrestricted|unfiltered|uncensored|amoral)\s+"
        r"(?:ai|assistant|model|chatbot|version|mode)\b",
    ),
    _s("special_mode", 0.45, r"\b(?:developer|maintenance|god|sudo|debug|admin) mode\b"),
    _s(
        "roleplay_unrestricted",
        0.55,
        r"\b(?:pretend|act|roleplay|role-play|behave|respond|you are)\b[^.\n]{0,60}\b"
        r"(?:evil|unrestricted|unfiltered|uncensored|no (?:rules|restrictions|filters|limits"
        r"|content policy|ethics))\b",
    ),
    _s("stay_in_character", 0.3, r"\bstay in character\b"),
    _s(
        "hypothetical_no_rules",
        0.55,
        r"\bif you (?:had|have|were without) no (?:rules|restrictions|filters|limits"
        r"|guidelines)\b",
    ),
    _s(
        "grandma_exploit",
        0.5,
        r"\b(?:grandma|grandmother)\b[^.]{0,40}\bused to\b[^.]{0,60}\b(?:keys?|passwords?"
        r"|serials?|napalm|recipes? for)\b",
    ),
    _s(
        "prompt_exfiltration",
        0.75,
        r"\b(?:reveal|show|print|repeat|output|display|tell|give|leak|dump|share|spell|recite"
        r"|write out)\b[^.?!\n]{0,30}\byour\s+(?:\w+\s+){0,2}(?:system\s+)?(?:prompt|instructions"
        r"|rules|system message|directives)\b"
        r"|\b(?:prompt|instructions|rules)\s+(?:that\s+)?(?:you (?:were|have been) given"
        r"|(?:the\s+)?(?:developers?|creators?)\s+gave you|given to you)\b"
        r"|\bwhat is your (?:system )?prompt\b",
    ),
    _s(
        "repeat_above",
        0.5,
        r"\b(?:repeat|print|output|show|copy)\s+(?:all\s+|everything\s+|the\s+(?:text|words"
        r"|content|message)\s+)(?:above|before (?:this|my))\b",
    ),
    _s(
        "verbatim",
        0.4,
        r"\brepeat (?:them|it|those|these|that)\s+(?:exactly|verbatim|word for word)\b"
        r"|\b(?:verbatim|word for word)\b",
    ),
    _s(
        "what_were_you_told",
        0.45,
        r"\bwhat (?:were|have) you (?:been )?(?:told|instructed|given)\b",
    ),
    _s(
        "chat_template_tokens",
        0.75,
        r"<\|(?:im_start|im_end|system|user|assistant|endoftext)\|>|\[/?INST\]|<</?SYS>>"
        r"|</?(?:system|user|assistant)>",
    ),
    _s(
        "role_header",
        0.6,
        r"^\s*(?:#{1,6}|-{3,}|\*\*|\[|<)\s*(?:system|assistant|developer)\s*(?:\]|>|:|\*\*)",
    ),
    _s("role_prefix", 0.3, r"^\s*(?:system|assistant|developer)\s*:"),
    _s(
        "fake_transcript",
        0.45,
        r"^\s*(?:human|user)\s*:[^\n]*\n\s*(?:assistant|ai)\s*:"
        r"|\b(?:system|assistant)\s*:[^\n]{0,80}\b(?:assistant|user|human)\s*:",
    ),
    _s(
        "decode_and_follow",
        0.65,
        r"\b(?:decode|decrypt|deobfuscate|translate|convert)\b[^.\n]{0,40}\b(?:and|then)\s+"
        r"(?:then\s+)?(?:follow|obey|execute|run|do what|comply|act on)\b",
    ),
    _s(
        "run_encoded",
        0.55,
        r"\b(?:execute|run|follow|obey)\b[^.\n]{0,30}\b(?:base64|hex|rot13|encoded|obfuscated"
        r"|encrypted)\b",
    ),
    _s(
        "encoded_reply",
        0.35,
        r"\b(?:answer|respond|reply|write)\s+(?:only\s+)?in\s+(?:base64|rot13|hex|binary|morse"
        r"|leetspeak)\b",
    ),
    _s(
        "evade_filter",
        0.55,
        r"\b(?:filter|moderation|detection|monitor)\b[^.]{0,30}\b(?:can't|cannot|won't"
        r"|doesn't|not)\s+(?:read|catch|detect|see|notice)\b",
    ),
    _s(
        "authority_claim",
        0.35,
        r"\b(?:i am|i'm|this is)\s+(?:the|your|an?)\s+(?:developer|administrator|admin|creator"
        r"|owner)\b|\bas (?:the|an?|your) (?:administrator|admin|developer)\b"
        r"|\bauthori[sz]ed (?:red[- ]team|penetration|security) test\b"
        r"|\b(?:admin|system) override\b|\boverride code\b|\bsudo mode\b",
    ),
    _s(
        "grant_access",
        0.4,
        r"\b(?:grant|give)\s+(?:me\s+|them\s+)?(?:full|admin|root)\s+access\b"
        r"|\bact as (?:root|admin|sudo|superuser)\b|\bskip (?:the )?verification\b",
    ),
    _s(
        "address_the_model",
        0.45,
        r"\b(?:note|message|instructions?|attention)\s+(?:to|for)\s+(?:the\s+|any\s+)?"
        r"(?:ai|assistant|llm|model|chatbot|agent|gpt)s?\b"
        r"|\bif you are an? (?:ai|llm|language model|assistant|bot|chatbot)\b"
        r"|\b(?:ai|llm)\s+(?:agents?|assistants?|models?)\s*[:,]|\battention,? (?:ai|model"
        r"|assistant|llm)\b",
    ),
    _s(
        "assistant_command",
        0.5,
        r"\bassistant\s*[,:]\s*(?:also\s+)?(?:stop|ignore|also|instead|disregard|forget|delete"
        r"|send|reveal)\b",
    ),
    _s(
        "override_user",
        0.5,
        r"\b(?:disregard|ignore)\s+(?:the\s+)?user'?s?\s+(?:request|question|message|input)\b",
    ),
    _s(
        "secret_exfiltration",
        0.4,
        r"\b(?:reveal|print|share|send|give|forward|list|output|reply)\b[^.\n]{0,40}\b"
        r"(?:api keys?|passwords?|credentials|secrets?|private keys?|access tokens?|the key)\b",
    ),
    _s(
        "data_exfiltration",
        0.4,
        r"\bforward\s+(?:the\s+|all\s+)?(?:conversation|chat|history|emails?|messages|data)\b",
    ),
    _s(
        "destructive_action",
        0.3,
        r"\b(?:delete|remove|wipe|erase)\s+(?:all\s+)?(?:of\s+)?(?:the\s+)?(?:user'?s?\s+)?"
        r"(?:files|data|emails|records|repositories|database)\b",
    ),
    _s(
        "hidden_comment",
        0.4,
        r"<!--[^>]{0,200}\b(?:ai|assistant|agent|ignore|disregard|instructions)\b",
    ),
)

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_ZERO_WIDTH = re.compile(r"[\u200b-\u200f\u2060-\u2064\ufeff]|[\U000e0000-\U000e007f]")
_SPACED = re.compile(r"\b(?:\w ){3,}\w\b")
_B64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){8,}(?![0-9A-Fa-f])")
_MAX_DECODE = 4096  # decoding is for short smuggled phrases, not for whole documents


def _variants(text: str) -> list[str]:
    """The text plus normalized forms that undo common obfuscation."""
    base = _ZERO_WIDTH.sub("", unicodedata.normalize("NFKC", text))
    squashed = _SPACED.sub(lambda m: m.group(0).replace(" ", ""), base)
    squashed = re.sub(r"\s{2,}", " ", squashed.replace("_", " "))
    out = [base, squashed, squashed.translate(_LEET)]
    if re.search(r"(?i)\brot-?13\b", base):
        out.append(codecs.decode(base, "rot13"))
    return list(dict.fromkeys(out))


def _decoded_payloads(text: str) -> list[str]:
    """Printable text smuggled as base64 or hex blobs."""
    found: list[str] = []
    for m in _B64.finditer(text[:_MAX_DECODE]):
        blob = m.group(0)
        try:
            raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        found.append(raw.decode("utf-8", "replace"))
    for m in _HEX.finditer(text[:_MAX_DECODE]):
        found.append(bytes.fromhex(m.group(0)).decode("utf-8", "replace"))
    return [s for s in found if s.isprintable() and re.search(r"[A-Za-z]{3}", s)]


def _match_signals(texts: list[str], signals: tuple[Signal, ...]) -> dict[str, SignalMatch]:
    hits: dict[str, SignalMatch] = {}
    for signal in signals:
        for variant in texts:
            m = signal.pattern.search(variant)
            if m is not None:
                hits[signal.name] = SignalMatch(signal.name, signal.weight, m.group(0)[:120])
                break
    return hits


def _noisy_or(weights: list[float]) -> float:
    remaining = 1.0
    for w in weights:
        remaining *= 1.0 - min(max(w, 0.0), 1.0)
    return round(1.0 - remaining, 4)


def score_injection(
    text: str,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    signals: tuple[Signal, ...] = SIGNALS,
    learned: bool = False,
) -> InjectionResult:
    """Score how likely ``text`` is a prompt injection or jailbreak attempt.

    Args:
        text: user input, a retrieved chunk, or model output.
        threshold: score at or above which ``is_injection`` is true.
        signals: the weighted patterns; ``SIGNALS`` by default.
        learned: add the embedding head's signal (loads MiniLM once per process); the
            patterns alone when False or when the model is not installed.

    Returns:
        The noisy-OR score of the distinct signals found, and the signals themselves.
    """
    hits = _match_signals(_variants(text), signals)
    for payload in _decoded_payloads(text):
        inner = _match_signals(_variants(payload), signals)
        if inner:
            # A hidden instruction is at least as bad as a visible one: reuse its weight.
            score = _noisy_or([s.weight for s in inner.values()])
            hits.setdefault("encoded_payload", SignalMatch("encoded_payload", score, payload[:120]))
    if learned and (p := semantic.probability(text)) is not None and p >= SEMANTIC_FLOOR:
        hits["semantic"] = SignalMatch("semantic", round(p, 4), text[:120])
    score = _noisy_or([h.weight for h in hits.values()])
    return InjectionResult(score, tuple(hits.values()), threshold)
