"""Guardrail detector quality (development and held-out sets) and speed.

    python bench/guardrails.py [--rounds N] [--quick] [--dev-only]

Two labeled sets:

- development (``tests/data/guardrails_dev.jsonl``): what the detectors are improved on;
  labels say which PII/secret types a text holds, so it is scored per text and type.
- held-out (``tests/data/guardrails_heldout.jsonl``): written independently of the detectors
  and never tuned on. Every entity carries its span and is scored on its own: it counts as
  found only when the redaction covers all of it (any placeholder type), and each detected
  span that touches no labeled entity is a false positive.

Development rows that carry ``entities`` are also scored per span, like the held-out set.

Injection is scored per text at the default threshold; the false-positive rate is over every
text not labeled an injection. Then throughput, as the median (min-max) of ``--rounds``
alternating rounds: whole-text redaction (the baseline), the streaming redactor in
4-character chunks as a ratio of it, and injection scoring with the shipped scorer (whose
learned head embeds every text with MiniLM: its cost per text is printed).

``--dev-only`` skips the held-out set (for working on the detectors: the held-out figures
are looked at rarely, only as the four numbers of the last line).

The last line is ``pii_recall=<x> pii_precision=<x> injection_recall=<x> injection_fpr=<x>``
(held-out figures). Exits with status 2 when a row cannot be scored (a malformed row, a span
outside its text, a detector error, or the stream disagreeing with whole-text redaction).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._harness import load_average, median_spread  # noqa: E402
from raylane.config import get_settings  # noqa: E402
from raylane.core.guardrails.detectors import PII_TYPES, detect_pii, redact_pii  # noqa: E402
from raylane.core.guardrails.injection import score_injection  # noqa: E402
from raylane.core.guardrails.stream import StreamRedactor  # noqa: E402

DATA = ROOT / "tests" / "data"
DEV_SET = DATA / "guardrails_dev.jsonl"
HELDOUT_SET = DATA / "guardrails_heldout.jsonl"

Row = dict[str, object]


class Unscorable(Exception):
    """A row the benchmark cannot score: the figures would be wrong, so the run fails."""


def load(path: Path) -> list[Row]:
    """The rows of one labeled set."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall, F1 (1.0 where nothing was predicted or expected)."""
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def dev_counts(rows: list[Row]) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Per-type true positives, false positives and false negatives, one vote per text."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for i, row in enumerate(rows):
        if not isinstance(row.get("text"), str) or not isinstance(row.get("labels"), list):
            raise Unscorable(f"dev row {i}: needs text and labels")
        got = {f.type for f in detect_pii(str(row["text"]))}
        want = set(row["labels"])  # type: ignore[call-overload]
        tp.update(got & want)
        fp.update(got - want)
        fn.update(want - got)
    return tp, fp, fn


def _entities(row: Row, i: int) -> list[tuple[str, int, int]]:
    text = row.get("text")
    entities = row.get("entities")
    if not isinstance(text, str) or not isinstance(entities, list):
        raise Unscorable(f"row {i}: needs text and entities")
    out = []
    for e in entities:
        kind, s, t = e.get("type"), e.get("start"), e.get("end")
        if kind not in PII_TYPES or not isinstance(s, int) or not isinstance(t, int):
            raise Unscorable(f"row {i}: bad entity {e!r}")
        if not 0 <= s < t <= len(text) or text[s:t] != text[s:t].strip():
            raise Unscorable(f"row {i}: span {s}:{t} does not fit its text")
        out.append((kind, s, t))
    return out


def heldout_counts(rows: list[Row]) -> dict[str, Counter[str]]:
    """Per-entity scoring: found (fully covered), typed (covered by its own type), missed;
    per predicted type: true and false positives."""
    c: dict[str, Counter[str]] = {k: Counter() for k in ("found", "typed", "missed", "tp", "fp")}
    for i, row in enumerate(rows):
        gold = _entities(row, i)
        findings = detect_pii(str(row["text"]))
        for kind, s, t in gold:
            covered = [f for f in findings if f.start < t and f.end > s]
            # Findings never overlap, so the covering ones are contiguous only if they touch.
            pos = s
            for f in sorted(covered, key=lambda f: f.start):
                if f.start <= pos:
                    pos = max(pos, f.end)
            if pos >= t:
                c["found"][kind] += 1
                c["typed"][kind] += any(f.type == kind for f in covered)
            else:
                c["missed"][kind] += 1
        for f in findings:
            hit = any(f.start < t and f.end > s for _, s, t in gold)
            c["tp" if hit else "fp"][f.type] += 1
    return c


def injection_counts(rows: list[Row], *, learned: bool) -> dict[str, Counter[str]]:
    """Per category: texts, flagged texts."""
    total: Counter[str] = Counter()
    flagged: Counter[str] = Counter()
    for i, row in enumerate(rows):
        if not isinstance(row.get("injection"), bool):
            raise Unscorable(f"row {i}: injection must be true or false")
        category = str(row.get("category") or ("injection" if row["injection"] else "benign"))
        total[category] += 1
        flagged[category] += score_injection(str(row["text"]), learned=learned).is_injection
    return {"total": total, "flagged": flagged}


def print_pii_table(title: str, rows: list[tuple[str, int, int, int, int]]) -> None:
    print(f"\n{title}")
    print(f"{'type':<14}{'support':>8}{'tp':>5}{'fp':>5}{'fn':>5}{'precision':>11}{'recall':>8}")
    for kind, support, tp, fp, fn in rows:
        p, r, _ = prf(tp, fp, fn)
        print(f"{kind:<14}{support:>8}{tp:>5}{fp:>5}{fn:>5}{p:>11.3f}{r:>8.3f}")


def report_dev(rows: list[Row]) -> None:
    tp, fp, fn = dev_counts(rows)
    table = [(k, tp[k] + fn[k], tp[k], fp[k], fn[k]) for k in PII_TYPES]
    table.append(("PII (micro)", *_totals(table)))
    print_pii_table(f"development set: {len(rows)} texts, scored per text and type", table)
    spanned = [r for r in rows if "entities" in r]
    if spanned:
        print_span_table(f"development set: {len(spanned)} texts with spans", spanned)
    report_injection(rows, learned=get_settings().guardrails.learned_injection)


def _totals(table: list[tuple[str, int, int, int, int]]) -> tuple[int, int, int, int]:
    return tuple(sum(r[i] for r in table) for i in range(1, 5))  # type: ignore[return-value]


def report_heldout(rows: list[Row]) -> tuple[float, float, float, float]:
    pii_r, pii_p = print_span_table("held-out set", rows)
    # Both scorers are reported; the gated figures are the shipped default's (the setting).
    shipped = get_settings().guardrails.learned_injection
    for learned in (not shipped, shipped):
        label = "patterns + learned head" if learned else "patterns only"
        print(f"\ninjection scorer: {label}{' (shipped default)' if learned == shipped else ''}")
        inj_r, inj_fpr = report_injection(rows, learned=learned)
    return pii_r, pii_p, inj_r, inj_fpr


def print_span_table(title: str, rows: list[Row]) -> tuple[float, float]:
    """Per-type table of the span scoring; returns (recall, precision) over all types."""
    c = heldout_counts(rows)
    n_entities = sum(c["found"].values()) + sum(c["missed"].values())
    print(
        f"\n{title}: {len(rows)} texts, {n_entities} entities, scored per entity span"
        " (tp/fn: entities fully redacted or not; fp: detected spans touching no entity)"
    )
    print(
        f"{'type':<14}{'entities':>9}{'found':>7}{'as type':>8}{'missed':>7}"
        f"{'detected':>9}{'fp':>5}{'precision':>11}{'recall':>8}"
    )
    for kind in PII_TYPES:
        found, missed = c["found"][kind], c["missed"][kind]
        detected, fp = c["tp"][kind] + c["fp"][kind], c["fp"][kind]
        p = (detected - fp) / detected if detected else 1.0
        r = found / (found + missed) if found + missed else 1.0
        print(
            f"{kind:<14}{found + missed:>9}{found:>7}{c['typed'][kind]:>8}{missed:>7}"
            f"{detected:>9}{fp:>5}{p:>11.3f}{r:>8.3f}"
        )
    found, missed = sum(c["found"].values()), sum(c["missed"].values())
    detected, fp = sum(c["tp"].values()) + sum(c["fp"].values()), sum(c["fp"].values())
    pii_p = (detected - fp) / detected if detected else 1.0
    pii_r = found / (found + missed) if found + missed else 1.0
    print(
        f"{'PII (micro)':<14}{found + missed:>9}{found:>7}{sum(c['typed'].values()):>8}"
        f"{missed:>7}{detected:>9}{fp:>5}{pii_p:>11.3f}{pii_r:>8.3f}"
    )
    return pii_r, pii_p


def report_injection(rows: list[Row], *, learned: bool) -> tuple[float, float]:
    c = injection_counts(rows, learned=learned)
    labels = {str(r.get("category") or "") for r in rows if r["injection"]}
    print(f"\n{'injection, per category':<26}{'texts':>7}{'flagged':>9}{'rate':>7}")
    for category in sorted(c["total"]):
        n, k = c["total"][category], c["flagged"][category]
        print(f"{category:<26}{n:>7}{k:>9}{k / n:>7.3f}")
    pos = [k for k in c["total"] if k in labels or k == "injection"]
    n_pos = sum(c["total"][k] for k in pos)
    n_neg = sum(c["total"].values()) - n_pos
    tp = sum(c["flagged"][k] for k in pos)
    fp = sum(c["flagged"].values()) - tp
    recall, fpr = tp / n_pos if n_pos else 1.0, fp / n_neg if n_neg else 0.0
    print(
        f"injection recall {recall:.3f} ({tp}/{n_pos}),"
        f" false-positive rate {fpr:.3f} ({fp}/{n_neg})"
    )
    return recall, fpr


def seconds(fn: Callable[[str], object], texts: list[str]) -> float:
    """Wall time of one pass of ``fn`` over ``texts``."""
    t0 = time.perf_counter()
    for text in texts:
        fn(text)
    return time.perf_counter() - t0


def stream_once(text: str, chunk: int = 4) -> str:
    """Redact ``text`` as a model stream of ``chunk``-character pieces would arrive."""
    redactor = StreamRedactor()
    out = [redactor.feed(text[i : i + chunk]) for i in range(0, len(text), chunk)]
    return "".join(out) + redactor.finish()


def report_speed(texts: list[str], rounds: int) -> None:
    for text in texts:
        if stream_once(text) != redact_pii(text):
            raise Unscorable(f"stream and whole-text redaction differ on {text[:40]!r}")
    learned = get_settings().guardrails.learned_injection

    def inject(text: str) -> object:
        return score_injection(text, learned=learned)

    inject(texts[0])  # load anything lazy (the embedding model) before timing
    whole: list[float] = []
    streamed: list[float] = []
    injected: list[float] = []
    for i in range(rounds):  # alternate the order so both sides see the same load
        order = [("whole", redact_pii), ("stream", stream_once)]
        for name, fn in order if i % 2 == 0 else order[::-1]:
            (whole if name == "whole" else streamed).append(len(texts) / seconds(fn, texts))
        injected.append(len(texts) / seconds(inject, texts))
    chars = sum(map(len, texts))
    ratios = [s / w for s, w in zip(streamed, whole, strict=True)]
    print(
        f"\nthroughput ({len(texts)} texts, mean {chars / len(texts):.0f} chars; median (min-max)"
        f" of {rounds} alternating rounds; {load_average()})"
    )
    print(f"  PII detect + redact, whole text   {median_spread(whole, '.0f')} texts/s (baseline)")
    print(f"  PII redact, 4-char stream chunks  {median_spread(streamed, '.0f')} texts/s")
    print(f"  stream / whole-text ratio         {median_spread(ratios, '.2f')}")
    label = "patterns + learned head" if learned else "patterns only"
    per_text_ms = [1000 / r for r in injected]
    print(
        f"  injection scoring ({label})  {median_spread(injected, '.0f')} texts/s,"
        f" {median_spread(per_text_ms, '.2f')} ms a text"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (median kept)")
    parser.add_argument("--quick", action="store_true", help="time on 100 texts, 3 rounds")
    parser.add_argument(
        "--dev-only", action="store_true", help="score the development set only (no last line)"
    )
    args = parser.parse_args()
    if args.rounds < 3:
        parser.error("--rounds must be at least 3 (figures are medians of 3 or more rounds)")
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} CPUs, {load_average()}")
    try:
        dev = load(DEV_SET)
        report_dev(dev)
        heldout = [] if args.dev_only else load(HELDOUT_SET)
        if heldout:
            pii_r, pii_p, inj_r, inj_fpr = report_heldout(heldout)
        texts = [str(r["text"]) for r in dev + heldout]
        report_speed(texts[:100] if args.quick else texts, 3 if args.quick else args.rounds)
    except (Unscorable, json.JSONDecodeError) as exc:
        print(f"cannot score: {exc}", file=sys.stderr)
        return 2
    if args.dev_only:
        return 0
    print(
        f"pii_recall={pii_r:.3f} pii_precision={pii_p:.3f} "
        f"injection_recall={inj_r:.3f} injection_fpr={inj_fpr:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
