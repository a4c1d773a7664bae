"""PII and secret detectors with validators, and typed redaction.

Every detector is a candidate regex followed by a validator (Luhn, IBAN mod-97, SSA rules,
``ipaddress``, entropy), because shapes alone flag order ids, versions and hashes.

Two properties matter to ``stream.StreamRedactor`` and are kept on purpose:

- Detectors take ``start`` and only report findings beginning there, while lookbehinds and
  keyword context still read the text before ``start`` (at most ``CONTEXT_CHARS``).
- A candidate rejected by its validator does not consume text: the scan resumes one
  character later. The findings at a position then depend only on nearby text, never on
  where the scan began, which is what lets a stream be redacted piecewise.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

PII_TYPES = ("email", "phone", "credit_card", "iban", "ssn", "ip_address", "secret")
PLACEHOLDERS: dict[str, str] = {t: f"[{t.upper()}]" for t in PII_TYPES}
# When two detectors claim overlapping text: leftmost wins, then longest, then this order.
_PRIORITY = {
    t: i
    for i, t in enumerate(("secret", "email", "iban", "credit_card", "ssn", "phone", "ip_address"))
}
# How far back any detector looks before a match (keyword context, lookbehinds).
CONTEXT_CHARS = 40


@dataclass(frozen=True, slots=True)
class Finding:
    """One detected span. ``label`` names the sub-kind (e.g. ``aws_access_key``).

    ``anchor`` is where the evidence begins: the label before a labeled secret's value,
    else ``start``. Re-scanning from inside ``[anchor, end)`` could miss the finding.
    """

    type: str
    start: int
    end: int
    text: str
    score: float = 1.0
    label: str = ""
    anchor: int | None = None


Validator = Callable[[re.Match[str], str], "tuple[int, int, str] | None"]


def _scan(
    pattern: re.Pattern[str],
    text: str,
    start: int,
    kind: str,
    check: Validator,
    *,
    every_start: bool = False,
) -> list[Finding]:
    """Leftmost-valid matches of ``pattern``; ``check`` returns (start, end, label) or None.

    With ``every_start`` an accepted match does not consume text either (the candidates may
    overlap; ``_resolve`` picks among them), for patterns whose matches can begin inside
    another detector's finding, so what is found never depends on where the scan began.
    """
    out: list[Finding] = []
    pos = start
    while (m := pattern.search(text, pos)) is not None:
        span = check(m, text)
        if span is None:
            pos = m.start() + 1  # a rejected candidate must not hide one starting inside it
            continue
        s, e, label = span
        out.append(Finding(kind, s, e, text[s:e], 1.0, label, min(s, m.start())))
        pos = m.start() + 1 if every_start else e
    return out


def luhn_valid(number: str) -> bool:
    """Returns whether ``number`` (digits, optionally spaced or dashed) passes Luhn mod 10."""
    if not re.fullmatch(r"[0-9][0-9 -]*[0-9]", number):
        return False
    digits = [int(c) for c in number if c != " " and c != "-"]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_IBAN_LENGTHS = {
    country: int(length)
    for country, length in re.findall(
        r"([A-Z]{2})(\d\d)",
        "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DK18 "
        "DO28 EE20 EG29 ES24 FI18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 IE22 IL23 "
        "IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 MC27 MD24 ME22 MK19 MR27 "
        "MT31 MU30 NL18 NO15 PK24 PL28 PS29 PT25 QA29 RO24 RS22 SA24 SC31 SE24 SI19 SK24 SM27 "
        "ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20",
    )
}


def iban_valid(iban: str) -> bool:
    """Returns whether ``iban`` has its country's length and a valid mod-97 check (ISO 7064)."""
    s = iban.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d\d[A-Z0-9]+", s) or _IBAN_LENGTHS.get(s[:2]) != len(s):
        return False
    return int("".join(str(int(c, 36)) for c in s[4:] + s[:4])) % 97 == 1


# Numbers the SSA announced as never valid although they follow the area/group/serial rules.
_RETIRED_SSNS = {"078051120", "219099999"}


def ssn_valid(ssn: str) -> bool:
    """Returns whether a US SSN could be issued: no area 000/666/9xx, group 00, serial 0000."""
    if not re.fullmatch(r"\d{3}([- ]?)\d{2}\1\d{4}", ssn):
        return False
    digits = re.sub(r"[ -]", "", ssn)
    if digits in _RETIRED_SSNS:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def shannon_entropy(value: str) -> float:
    """Shannon entropy of ``value`` in bits per character."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


# Marks of a placeholder ("YOUR_API_KEY", "sk-xxxx...", "<token>"): never a real value.
_PLACEHOLDER_WORDS = re.compile(
    r"(?i)your|placeholder|changeme|dummy|redacted|xxxx|\*\*\*|<|>|\.\.\.|\$\{|\{\{|%\("
)
# Words that documentation keys carry next to real-looking material ("...EXAMPLEKEY"): the
# rest must still look generated.
_SAMPLE_WORDS = re.compile(r"(?i)example|sample")


def looks_random(value: str, *, min_len: int = 16) -> bool:
    """Whether ``value`` reads like generated key material rather than a word or placeholder."""
    if _PLACEHOLDER_WORDS.search(value):
        return False
    value = _SAMPLE_WORDS.sub("", value)
    classes = sum(any(f(c) for c in value) for f in (str.islower, str.isupper, str.isdigit))
    return len(value) >= min_len and classes >= 2 and shannon_entropy(value) >= 3.0


# Internationalised addresses (RFC 6531/IDNA: "josé@correo.es", "用户@例子.广告") are common in
# real text, so letters and digits are Unicode ones, not ASCII only. Combining marks (Indic
# vowel signs, Thai, decomposed accents) are not ``\w`` in Python: they are added by block.
_MARKS = "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0900-\u0dff"
_MARKS += "\u0e00-\u0eff\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\u3099\u309a\ufe20-\ufe2f"
_EMAIL = re.compile(
    rf"(?<![\w.%+'{_MARKS}-])[^\W_](?:[\w.%+'{_MARKS}-]{{0,62}}[\w%+{_MARKS}-])?"
    rf"@(?:[^\W_](?:[\w{_MARKS}-]{{0,61}}[\w{_MARKS}])?\.){{1,8}}"
    rf"((?:[^\W\d_]|[{_MARKS}]){{2,24}}|xn--[a-z0-9-]{{2,59}})(?![\w{_MARKS}-])"
)
# Asset names like "logo@2x.png" have the shape of an address with a file extension as TLD.
_FILE_TLDS = {"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "tif", "tiff"}


def find_emails(text: str, start: int = 0) -> list[Finding]:
    """Email addresses (RFC 5322 dot-atom subset, TLD required)."""

    def check(m: re.Match[str], _: str) -> tuple[int, int, str] | None:
        if m.group(1).lower() in _FILE_TLDS or ".." in m.group(0) or "'@" in m.group(0):
            return None
        return m.start(), m.end(), "email"

    return _scan(_EMAIL, text, start, "email", check)


# At most 16 digits with short separators, so a match never spans more than 47 characters
# (stream.py holds back that much of a trailing number). Boundaries are ASCII: Japanese or
# Chinese text puts a number right after a word character ("電話は03-1234-5678です").
_PHONE_INTL = re.compile(
    r"(?<![0-9A-Za-z_+(])(?:\(?\+|00(?=[1-9]\d{0,2} ))(?:\d[ .()/-]{0,2}){7,15}\d"
    r"(?![0-9A-Za-z_]|[.-]\d)"
)
_PHONE_NANP = re.compile(
    r"(?<![0-9A-Za-z_+@.-])(?:1[ .-])?(?:\(([2-9]\d\d)\) ?|([2-9]\d\d)[ .-])[2-9]\d\d[ .-]\d{4}"
    r"(?![0-9A-Za-z_]|[.-]\d)"
)
_PHONE_BARE = re.compile(r"(?<![0-9A-Za-z_+.-])(?:1)?([2-9]\d\d)[2-9]\d{6}(?![0-9A-Za-z_]|[.-]\d)")
# National formats: a trunk "0" or an area code in parentheses, then digit groups ("030 1234567",
# "06 12 34 56 78", "020 7946 0958", "(11) 91234-5678", "03-1234-5678"); without either, only
# after a phone word ("móvil 612 34 56 78", "mobile: 98765 43210").
_PHONE_NATIONAL = re.compile(
    r"(?<![0-9A-Za-z_+.,/-])(?:\(0\)\s?\d|\(\d{2,5}\)[ .-]?\d|\d)(?:[ ./-]?\d){6,13}"
    r"(?![0-9A-Za-z_]|[.,/-]\d)"
)
# Mobile numbers whose grouping is the country's own, safe without a phone word: India
# "98765 43210", Brazil "11 91234-5678", Spain "612 34 56 78" / "612 345 678", Italy
# "333 123 4567" / "347 1234567".
_NATIONAL_SHAPES = re.compile(
    r"[6-9]\d{4} \d{5}|\(?\d{2}\)? 9\d{4}-\d{4}|[67]\d{2}(?: \d{2}){3}|[67]\d{2} \d{3} \d{3}"
    r"|3\d{2} \d{3} \d{3,4}|3\d{2} \d{6,7}"
)
_DATE_LIKE = re.compile(r"\d{1,4}([./-])\d{1,2}\1\d{1,4}|\d{1,2}[./-]\d{4}|\d{4}[./-]\d{1,2}")
# "call", "Telefon", "téléphone", "móvil", "cellulare", "celular", "電話" ... within a few words.
_PHONE_WORDS = re.compile(
    r"(?i)(?:\b(?:phone|tel|telephone|mobile|mob|cell|cellphone|call|ring|text me|sms|whatsapp"
    r"|fax|dial|hotline|helpline|landline|contact|reach (?:me|us|him|her)|telefon|telefonnummer"
    r"|rufnummer|handy|mobil|mobilnummer|festnetz|anrufen|erreichbar|t[ée]l[ée]phone|t[ée]l"
    r"|portable|appel(?:ez|er)?|joindre|tel[ée]fono|m[óo]vil|celular|ll[áa]m(?:ame|enos|ar)"
    r"|llame|telefone|ligue|ligar|fone|contato|cellulare|chiama(?:mi|re|teci)?"
    r"|office|oficina|ufficio|büro|bureau|zentrale|standard|centralino|switchboard|support"
    r"|kontakt|contacto|contatto)\b|\bph\s?[.:#]|電話|携帯|連絡先|手机|电话)[^\n]{0,30}$"
)


def _phone_check(m: re.Match[str], text: str) -> tuple[int, int, str] | None:
    number = m.group(0)
    digits = sum(c.isdigit() for c in number)
    if m.re is _PHONE_INTL:
        return (m.start(), m.end(), "phone") if 8 <= digits <= 15 else None
    said = _PHONE_WORDS.search(text, max(0, m.start() - CONTEXT_CHARS), m.start()) is not None
    if m.re is _PHONE_NATIONAL:
        if not 8 <= digits <= 13 or _DATE_LIKE.fullmatch(number):
            return None
        groups = re.split(r"[ ./-]+", number.replace("(", "").replace(")", " ").strip())
        before = text[max(0, m.start() - 2) : m.start()]
        grouped = (
            not re.fullmatch(r"\d[ .-]", before)
            and (  # not the tail of a longer id
                number.startswith("(")
                or (
                    number[0] == "0"
                    and number[1:2] != "0"
                    and digits >= 9
                    and len(groups) > 1
                    and min(map(len, groups)) >= 2  # "0-306-40615-2" is an ISBN
                )
            )
        )
        shaped = _NATIONAL_SHAPES.fullmatch(number) is not None
        return (m.start(), m.end(), "phone") if said or grouped or shaped else None
    area = m.group(1) or (m.group(2) if m.re is _PHONE_NANP else None)
    if area is not None and area[1:] == "11":  # N11 codes are service numbers, not areas
        return None
    if m.re is _PHONE_BARE and not said:
        return None  # ten bare digits are an id unless the text says it is a number to call
    return m.start(), m.end(), "phone"


def find_phones(text: str, start: int = 0) -> list[Finding]:
    """Phone numbers: ``+CC``/``00CC`` numbers, NANP numbers with separators, and national
    formats with a trunk ``0`` or a bracketed area code.

    Bare digits, and national numbers without either, count only after a phone word
    ("call", "mobile", "Telefon", "móvil" ...).
    """
    found: list[Finding] = []
    for pattern in (_PHONE_INTL, _PHONE_NANP, _PHONE_BARE):
        found += _scan(pattern, text, start, "phone", _phone_check)
    found += _scan(_PHONE_NATIONAL, text, start, "phone", _phone_check, every_start=True)
    return _resolve(found)


_CARD = re.compile(
    r"(?<![\w-])(?:\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?|\d{4}([ -])\d{6}\2\d{4,5}"
    r"|\d{13,19})"
    r"(?!\w|-\d)"
)
# (first digits low, high, allowed lengths) per card network; Luhn alone passes 1 in 10 ids.
# fmt: off
_CARD_RANGES: tuple[tuple[int, int, tuple[int, ...]], ...] = (
    (4, 4, (13, 16, 19)), (51, 55, (16,)), (2221, 2720, (16,)), (34, 34, (15,)),
    (37, 37, (15,)), (6011, 6011, (16, 19)), (644, 649, (16, 19)), (65, 65, (16, 19)),
    (3528, 3589, (16, 19)), (300, 305, (14, 16, 19)), (36, 36, (14, 16, 19)),
    (38, 39, (14, 16, 19)), (62, 62, (16, 17, 18, 19)), (2200, 2204, (16,)),
    # Maestro, RuPay
    (50, 50, (12, 13, 16, 19)), (56, 58, (12, 13, 16, 19)), (6304, 6304, (16, 18, 19)),
    (6759, 6763, (16, 18, 19)), (60, 60, (16,)), (81, 82, (16,)),
)
# fmt: on


def card_brand_ok(digits: str) -> bool:
    """Whether a digit string has the prefix and length of a known card network."""
    return any(
        lo <= int(digits[: len(str(lo))]) <= hi and len(digits) in lengths
        for lo, hi, lengths in _CARD_RANGES
    )


def find_credit_cards(text: str, start: int = 0) -> list[Finding]:
    """Payment card numbers: known network prefix and length, and a valid Luhn digit."""

    def check(m: re.Match[str], _: str) -> tuple[int, int, str] | None:
        digits = re.sub(r"[ -]", "", m.group(0))
        if card_brand_ok(digits) and luhn_valid(digits):
            return m.start(), m.end(), "credit_card"
        return None

    return _scan(_CARD, text, start, "credit_card", check)


_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2})\d\d")


def _iban_check(m: re.Match[str], text: str) -> tuple[int, int, str] | None:
    # Walk exactly the country's length, allowing single spaces (print format groups by 4).
    need = _IBAN_LENGTHS.get(m.group(1), 0) - 4
    if need <= 0:
        return None
    pos, got = m.end(), 0
    while got < need and pos < len(text):
        if text[pos].isascii() and text[pos].isalnum():
            got, pos = got + 1, pos + 1
        elif text[pos] == " " and pos + 1 < len(text) and text[pos + 1].isalnum():
            pos += 1
        else:
            break
    if got < need or (pos < len(text) and text[pos].isalnum()):
        return None
    return (m.start(), pos, "iban") if iban_valid(text[m.start() : pos]) else None


def find_ibans(text: str, start: int = 0) -> list[Finding]:
    """IBANs, compact or in groups of four, with the country length and mod-97 checked."""
    return _scan(_IBAN_START, text, start, "iban", _iban_check)


_SSN = re.compile(r"(?<![\w-])(?:\d{3}([- ])\d{2}\1\d{4}|(\d{9}))(?!\w|-\d)")
_SSN_WORDS = re.compile(r"(?i)\b(?:ssn|social security|ss#|taxpayer id|tin)\b[^\n]{0,24}$")


def find_ssns(text: str, start: int = 0) -> list[Finding]:
    """US social security numbers (``123-45-6789``; nine bare digits only after "SSN")."""

    def check(m: re.Match[str], txt: str) -> tuple[int, int, str] | None:
        if not ssn_valid(m.group(0)):
            return None
        if m.group(2) and not _SSN_WORDS.search(txt, max(0, m.start() - 32), m.start()):
            return None
        return m.start(), m.end(), "ssn"

    return _scan(_SSN, text, start, "ssn", check)


_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?:/(?:3[0-2]|[12]?\d)(?!\d))?(?!\w|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.%])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?"
    r"(?:%[\w.-]{1,16})?(?![\w:]|\.\w)"
)
# A dotted quad right after one of these words is a version or section number.
_VERSION_WORDS = re.compile(
    r"(?i)(?:\bv|\bversion|\bver\.?|\brelease|\bbuild|\brev(?:ision)?|\bsection|\bsec\.|"
    r"\bchapter|§|\bfirmware|\bfw|\bpatch|\bsdk|\bkernel)\s*[:#]?\s*$"
)


def _ip_check(m: re.Match[str], text: str) -> tuple[int, int, str] | None:
    candidate = m.group(0)
    try:
        if m.re is _IPV4:
            ipaddress.IPv4Address(candidate.split("/")[0])
            if _VERSION_WORDS.search(text, max(0, m.start() - 16), m.start()):
                return None
            return m.start(), m.end(), "ipv4"
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return None
    groups = [g for g in candidate.split("%")[0].split(":") if g]
    # "::" and "a::1" shapes show up in code ("x[::2]"); ask for two groups, bar loopback.
    return (m.start(), m.end(), "ipv6") if len(groups) >= 2 or candidate == "::1" else None


def find_ip_addresses(text: str, start: int = 0) -> list[Finding]:
    """IPv4 and IPv6 addresses that ``ipaddress`` accepts; version numbers are skipped."""
    found = _scan(_IPV4, text, start, "ip_address", _ip_check)
    return _resolve(found + _scan(_IPV6, text, start, "ip_address", _ip_check))


# Body lines of a PEM block are separated by newlines, or by literal "\n" inside JSON/env files.
_PEM_SEP = r"(?:\\n|\s)+"
_PEM = (
    r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY-----(?:"
    + _PEM_SEP
    + r"(?:[A-Za-z0-9+/]{16,100}={0,2}|[A-Za-z0-9+/]{0,100}={1,2}"
    r"|[A-Za-z-]{3,20}: ?[^\s\\]{1,100}))*"
    r"(?:" + _PEM_SEP + r"-----END[A-Z0-9 ]{0,40}PRIVATE KEY-----)?"
)
# First words of key-ish labels; stream.py holds text back after these.
LABEL_WORDS = (
    r"api|apikey|access|auth|refresh|client|secret|private|pass|password|passwd|pwd|passphrase"
    r"|token|bearer|authorization|credentials?|account|storage|encryption|signing|master|shared"
    r"|consumer|app|webhook|session|db|database|mysql|postgres|redis|smtp|ldap|admin|root|key"
    r"|subscription|license|licence|signature|sig"
)
_LABEL = (
    r"(?:[a-z0-9]+[_.-])*(?:api[_ -]?key|apikey|(?:api|access|auth|refresh|bearer|session)"
    r"[_ -]?token|client[_ -]?secret|secret(?:[_ -]?(?:access[_ -]?)?key)?|access[_ -]?key"
    r"(?:[_ -]?id)?|(?:private|account|storage|encryption|signing|master|shared|consumer|app"
    r"|webhook)[_ -]?(?:key|secret)|token|password|passwd|pwd|pass|passphrase|authorization"
    r"|credentials?|(?:db|database|mysql|postgres|redis|smtp|ldap|admin|root)[_ -]?pass(?:word)?"
    r"|(?:subscription|license|licence|signing|signature)[_ -]?key|key)"
)
# "Bearer <token>" without a header name.
_BEARER = re.compile(
    r"(?i)(?<![a-z0-9])bearer[ \t]+(?P<value>[A-Za-z0-9._~+/-]{16,1000}=*)(?![\w.~+/=-])"
)
_LABELED = re.compile(
    r"(?i)(?<![a-z0-9])(?P<label>"
    + _LABEL
    + r")[\"']?[ \t]{0,3}(?P<sep>:=|=>|[:=]|\bis\b)[ \t]{0,3}"
    r"(?:(?:bearer|basic|token)\s+)?[\"']?(?P<value>[^\s\"'`<>,;]{6,256})"
)
# A value that is code or a reference, not the secret: os.environ["X"], settings.DB_PASSWORD,
# get_password(), ${DB_PASSWORD}, DB_PASSWORD, None.
_CODE_REF = re.compile(
    r"[a-z_][a-z0-9_]*(?:\.[A-Za-z_]\w*)+\W*|[A-Za-z_][\w.]*[(\[].*|[$%{].*|[A-Z][A-Z0-9]*_[A-Z0-9_]+"
    r"|(?i:none|null|nil|true|false|required|optional|string|empty|unset|hidden|secret|password)"
)
# Credentials inside a URL: scheme://user:password@host[:port][/path].
_URL_CREDENTIALS = re.compile(
    r"(?i)(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{1,20}://(?P<user>[^\s:/@\"'<>]{0,64}):"
    r"(?P<value>[^\s/@\"'<>]{1,128})@[\w.-]{1,253}(?::\d{1,5})?(?:/[\w.-]{0,64})?(?![\w.-])"
)
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9+/_\-.~=]+")
_L, _R = r"(?<![A-Za-z0-9_-])", r"(?![A-Za-z0-9_-])"  # a key is never part of a longer word
# (label, pattern, whether the part after the prefix must look random)
_SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str], bool], ...] = tuple(
    (label, re.compile(rx), random_tail)
    for label, rx, random_tail in (
        ("private_key", _PEM, False),
        ("aws_access_key", _L + r"(?:AKIA|ASIA|ABIA|ACCA|A[GI]PA|AIDA|AROA|AN[PV]A)"
         r"[A-Z0-9]{16}" + _R, False),
        ("gitlab_token", _L + r"gl(?:pat|dt|ptt|rt)-[A-Za-z0-9_-]{20,64}" + _R, False),
        ("npm_token", _L + r"npm_[A-Za-z0-9]{36}" + _R, False),
        ("huggingface_token", _L + r"hf_[A-Za-z0-9]{30,40}" + _R, True),
        ("sendgrid_key", _L + r"SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,50}" + _R, False),
        ("google_oauth", _L + r"(?:GOCSPX-[A-Za-z0-9_-]{24,40}|ya29\.[A-Za-z0-9_-]{20,2000})"
         + _R, False),
        ("databricks_token", _L + r"dapi[0-9a-f]{32}(?:-\d)?" + _R, False),
        ("digitalocean_token", _L + r"do[opr]_v1_[0-9a-f]{64}" + _R, False),
        ("shopify_token", _L + r"shp(?:at|ca|pa|ss)_[0-9a-fA-F]{32}" + _R, False),
        ("pypi_token", _L + r"pypi-AgE[A-Za-z0-9_-]{50,300}" + _R, False),
        ("mailgun_key", _L + r"key-[0-9a-f]{32}" + _R, False),
        ("twilio_key", _L + r"SK[0-9a-f]{32}" + _R, False),
        ("telegram_bot_token", r"(?<![\w:])\d{8,10}:AA[A-Za-z0-9_-]{33}" + _R, False),
        ("github_token", _L + r"gh[pousr]_[A-Za-z0-9]{36,251}" + _R, False),
        ("github_token", _L + r"github_pat_[A-Za-z0-9_]{60,255}" + _R, False),
        ("slack_token", _L + r"(?:xox[abposr]|xapp)-[A-Za-z0-9-]{10,250}" + _R, False),
        ("slack_webhook", r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]{6,12}"
         r"/B[A-Za-z0-9_]{6,12}/[A-Za-z0-9]{16,32}" + _R, False),
        ("openai_key", _L + r"sk-(?:proj-|svcacct-|admin-|ant-(?:[a-z]+\d\d-)?)?"
         r"[A-Za-z0-9_-]{20,250}" + _R, True),
        ("stripe_key", _L + r"[rsp]k_(?:live|test)_[A-Za-z0-9]{16,99}" + _R, False),
        ("google_api_key", _L + r"AIza[0-9A-Za-z_-]{35}" + _R, False),
        ("jwt", _L + r"eyJ[A-Za-z0-9_-]{8,2000}\.eyJ[A-Za-z0-9_-]{8,4000}\.[A-Za-z0-9_-]{0,2000}"
         + _R, False),
        ("raylane_key", _L + r"rl_[A-Za-z0-9_-]{20,200}" + _R, True),
    )
)  # fmt: skip


def _labeled_check(m: re.Match[str], _: str) -> tuple[int, int, str] | None:
    value = m.group("value")
    label = m.group("label").lower()
    if _PLACEHOLDER_WORDS.search(value):
        return None
    if re.search(r"pass(?:wd|word|phrase)?$|pwd$", label):
        if _CODE_REF.fullmatch(value) or value.endswith(":"):
            return None
        # Passwords are short and need not look random. In a config line (``=``, ``:``) a
        # value mixing two character classes counts; after "is" (prose: "the password is
        # expired") it takes eight characters and three classes.
        classes = sum(
            any(f(c) for c in value)
            for f in (str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum())
        )
        if value.isalpha() and (value.islower() or value.istitle()):
            ok = False  # a word: "Password: Required", "password: optional"
        elif m.group("sep").lower() == "is":  # prose: a digit or symbol, not a word
            ok = classes >= 2 and len(value) >= 8 and not value.isalpha()
        else:
            ok = classes >= 2
    else:
        ok = _TOKEN_CHARS.fullmatch(value) is not None and looks_random(value)
    return (m.start("value"), m.end("value"), "labeled_secret") if ok else None


def _bearer_check(m: re.Match[str], _: str) -> tuple[int, int, str] | None:
    ok = looks_random(m.group("value"))
    return (m.start("value"), m.end("value"), "bearer_token") if ok else None


def _url_check(m: re.Match[str], _: str) -> tuple[int, int, str] | None:
    value = m.group("value")
    if _PLACEHOLDER_WORDS.search(value) or value.lower() in {"password", "pass", "pwd", "secret"}:
        return None
    return m.start(), m.end(), "url_credentials"


def find_secrets(text: str, start: int = 0) -> list[Finding]:
    """Credentials: known key shapes, private-key blocks, JWTs and labeled random values.

    Shapes: AWS access keys, GitHub, Slack, OpenAI-style ``sk-``, Stripe and Google API keys,
    Slack webhooks, Raylane ``rl_`` keys and more. A labeled value (``api_key=...``,
    ``password: ...``, ``AccountKey=...``) counts when it looks generated, or, for passwords,
    mixes character classes and is not a word or a reference (``os.environ[...]``). A URL
    with a password (``postgres://user:pw@host/db``) is redacted whole.
    """
    found: list[Finding] = []
    for label, pattern, random_tail in _SECRET_PATTERNS:

        def check(
            m: re.Match[str], _: str, label: str = label, rnd: bool = random_tail
        ) -> tuple[int, int, str] | None:
            tail = re.sub(r"^(?:sk-(?:proj-|svcacct-|admin-|ant-[a-z0-9]*-)?|rl_)", "", m[0])
            return None if rnd and not looks_random(tail) else (m.start(), m.end(), label)

        found += _scan(pattern, text, start, "secret", check)
    found += _scan(_LABELED, text, start, "secret", _labeled_check)
    found += _scan(_URL_CREDENTIALS, text, start, "secret", _url_check)
    found += _scan(_BEARER, text, start, "secret", _bearer_check)
    return _resolve(found)


DETECTORS: dict[str, Callable[[str, int], list[Finding]]] = {
    "email": find_emails, "phone": find_phones, "credit_card": find_credit_cards,
    "iban": find_ibans, "ssn": find_ssns, "ip_address": find_ip_addresses, "secret": find_secrets,
}  # fmt: skip


def _resolve(findings: Iterable[Finding]) -> list[Finding]:
    """Drop overlaps: leftmost first, then the longest, then by detector priority."""
    ordered = sorted(findings, key=lambda f: (f.start, f.start - f.end, _PRIORITY[f.type]))
    kept: list[Finding] = []
    for f in ordered:
        if not kept or f.start >= kept[-1].end:
            kept.append(f)
    return kept


def detect_pii(text: str, types: Iterable[str] | None = None, *, start: int = 0) -> list[Finding]:
    """Run the PII/secret detectors and return non-overlapping findings in text order.

    Args:
        text: the text to scan.
        types: detector names from ``PII_TYPES``; all of them when None.
        start: report only findings at or after this offset (earlier text is context).

    Returns:
        Findings sorted by position; overlapping claims resolved leftmost-longest.

    Raises:
        ValueError: an unknown detector name.
    """
    names = PII_TYPES if types is None else tuple(types)
    unknown = set(names) - set(DETECTORS)
    if unknown:
        raise ValueError(f"unknown detector(s): {sorted(unknown)}")
    found: list[Finding] = []
    for name in names:
        found += DETECTORS[name](text, start)
    return _resolve(found)


def redact(text: str, findings: Iterable[Finding], *, offset: int = 0) -> str:
    """Replace each finding's span with its typed placeholder (``[EMAIL]``, ``[SECRET]`` ...).

    Args:
        text: the text the findings point into (shifted by ``offset``).
        findings: non-overlapping findings, e.g. from ``detect_pii``.
        offset: absolute position of ``text[0]`` in the findings' coordinates.

    Returns:
        The redacted text.
    """
    parts: list[str] = []
    pos = 0
    for f in sorted(findings, key=lambda f: f.start):
        s, e = f.start - offset, f.end - offset
        if s < pos:
            continue  # overlapping input: the earlier replacement already covers it
        parts += [text[pos:s], PLACEHOLDERS.get(f.type, f"[{f.type.upper()}]")]
        pos = e
    parts.append(text[pos:])
    return "".join(parts)


def redact_pii(text: str, types: Iterable[str] | None = None) -> str:
    """Detect and redact in one call: the whole-text reference ``StreamRedactor`` matches."""
    return redact(text, detect_pii(text, types))
