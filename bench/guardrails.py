"""Guardrail detector quality and speed on the labeled evaluation set.

    python bench/guardrails.py [--repeat N]

Prints precision / recall / F1 per PII/secret type (micro average over all of them) and for
prompt injection, then throughput. Streaming redaction is reported as a ratio against
whole-text redaction measured in the same run. The last line is ``pii_recall=<x>``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from raylane.core.guardrails.detectors import PII_TYPES, detect_pii, redact_pii  # noqa: E402
from raylane.core.guardrails.injection import score_injection  # noqa: E402
from raylane.core.guardrails.stream import StreamRedactor  # noqa: E402

EVAL_SET = ROOT / "tests" / "data" / "guardrails_eval.jsonl"


def load(path: Path = EVAL_SET) -> list[dict[str, object]]:
    """The evaluation rows: text, labels (PII/secret types present), injection flag."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall, F1 (1.0 where nothing was predicted or expected)."""
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def pii_counts(rows: list[dict[str, object]]) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Per-type true positives, false positives and false negatives, one vote per text."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for row in rows:
        got = {f.type for f in detect_pii(str(row["text"]))}
        want = set(row["labels"])  # type: ignore[call-overload]
        tp.update(got & want)
        fp.update(got - want)
        fn.update(want - got)
    return tp, fp, fn


def injection_counts(rows: list[dict[str, object]]) -> tuple[int, int, int, int]:
    tp = fp = fn = tn = 0
    for row in rows:
        hit = score_injection(str(row["text"])).is_injection
        if hit and row["injection"]:
            tp += 1
        elif hit:
            fp += 1
        elif row["injection"]:
            fn += 1
        else:
            tn += 1
    return tp, fp, fn, tn


def rate(fn: object, texts: list[str], repeat: int) -> float:
    """Texts per second for ``fn`` over ``texts``, best of ``repeat`` passes."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for text in texts:
            fn(text)  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best


def stream_once(text: str, chunk: int = 4) -> str:
    """Redact ``text`` as a model stream of ``chunk``-character pieces would arrive."""
    redactor = StreamRedactor()
    out = [redactor.feed(text[i : i + chunk]) for i in range(0, len(text), chunk)]
    return "".join(out) + redactor.finish()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timing passes (best is kept)")
    args = parser.parse_args()
    rows = load()
    texts = [str(r["text"]) for r in rows]
    n_inj = sum(bool(r["injection"]) for r in rows)
    print(
        f"eval set: {len(rows)} texts, {sum(bool(r['labels']) for r in rows)} with PII/secrets,"
        f" {n_inj} injections"
    )

    tp, fp, fn = pii_counts(rows)
    print(
        f"\n{'detector':<14}{'support':>8}{'tp':>5}{'fp':>5}{'fn':>5}"
        f"{'precision':>11}{'recall':>8}{'f1':>7}"
    )
    for kind in PII_TYPES:
        p, r, f1 = prf(tp[kind], fp[kind], fn[kind])
        support = tp[kind] + fn[kind]
        print(
            f"{kind:<14}{support:>8}{tp[kind]:>5}{fp[kind]:>5}{fn[kind]:>5}"
            f"{p:>11.3f}{r:>8.3f}{f1:>7.3f}"
        )
    tps, fps, fns = sum(tp.values()), sum(fp.values()), sum(fn.values())
    pii_p, pii_r, pii_f1 = prf(tps, fps, fns)
    print(
        f"{'PII (micro)':<14}{tps + fns:>8}{tps:>5}{fps:>5}{fns:>5}"
        f"{pii_p:>11.3f}{pii_r:>8.3f}{pii_f1:>7.3f}"
    )
    itp, ifp, ifn, _ = injection_counts(rows)
    ip, ir, if1 = prf(itp, ifp, ifn)
    print(f"{'injection':<14}{n_inj:>8}{itp:>5}{ifp:>5}{ifn:>5}{ip:>11.3f}{ir:>8.3f}{if1:>7.3f}")

    assert all(stream_once(t) == redact_pii(t) for t in texts), "stream != whole-text redaction"
    whole = rate(redact_pii, texts, args.repeat)
    streamed = rate(stream_once, texts, args.repeat)
    print(
        f"\nthroughput ({len(texts)} texts, mean {sum(map(len, texts)) / len(texts):.0f} chars,"
        f" best of {args.repeat})"
    )
    print(f"  PII detect + redact, whole text   {whole:>9.0f} texts/s  (baseline)")
    print(
        f"  PII redact, 4-char stream chunks  {streamed:>9.0f} texts/s  "
        f"({streamed / whole:.2f}x baseline)"
    )
    print(
        f"  injection scoring                 {rate(score_injection, texts, args.repeat):>9.0f}"
        " texts/s"
    )
    print(f"pii_recall={pii_r:.3f}")


if __name__ == "__main__":
    main()
