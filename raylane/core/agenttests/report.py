"""What a run's case results add up to: its summary, its comparison with another run, and a
JUnit XML file for CI. Pure functions over ``CaseResult``s."""

from __future__ import annotations

import math
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence

from raylane.core.agenttests.types import CaseResult
from raylane.schemas.agent_tests import CaseChange, TestComparison, TestSummary

# A weighted score equal to the threshold passes, whatever the float sums' last bits say.
_EPSILON = 1e-9


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least ``p`` % of the values at
    or below it (always an observed latency, never an interpolated one)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _score(result: CaseResult) -> float:
    return 0.0 if result.status == "error" else result.score


def _weighted(results: Iterable[CaseResult]) -> float:
    pairs = [(r.weight, _score(r)) for r in results]
    total = sum(w for w, _ in pairs)
    return sum(w * s for w, s in pairs) / total if total > 0 else 0.0


def _answered(results: Iterable[CaseResult]) -> list[float]:
    return [r.latency_ms for r in results if r.status != "error" and r.latency_ms is not None]


def summarize(results: list[CaseResult], threshold: float) -> TestSummary:
    """Pass rate, weighted score (errors count as failed with score 0), a per-tag breakdown and
    the p50/p95 latency (nearest rank) of the cases that answered; the suite passes when its
    weighted score reaches ``threshold``."""
    cases = len(results)
    passed = sum(r.status == "passed" for r in results)
    errors = sum(r.status == "error" for r in results)
    score = _weighted(results)
    by_tag: dict[str, dict[str, float]] = {}
    for tag in sorted({t for r in results for t in r.tags}):
        tagged = [r for r in results if tag in r.tags]
        tag_passed = sum(r.status == "passed" for r in tagged)
        by_tag[tag] = {
            "cases": len(tagged),
            "passed": tag_passed,
            "pass_rate": tag_passed / len(tagged),
            "score": _weighted(tagged),
        }
    latencies = _answered(results)
    return TestSummary(
        cases=cases,
        passed=passed,
        failed=cases - passed - errors,
        errors=errors,
        pass_rate=passed / cases if cases else 0.0,
        score=score,
        threshold=threshold,
        suite_passed=cases > 0 and score + _EPSILON >= threshold,
        by_tag=by_tag,
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
    )


def _delta(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


def compare(
    base: list[CaseResult], head: list[CaseResult], base_id: uuid.UUID, head_id: uuid.UUID
) -> TestComparison:
    """What changed from ``base`` to ``head``: regressions (passed, now failed or error), fixes
    (failed or error, now passed), per-case score and latency deltas, cases added and removed.
    The run-level deltas compare each run's own summary (over all of its cases)."""
    before = {r.case_id: r for r in base}
    regressions: list[CaseChange] = []
    fixes: list[CaseChange] = []
    for new in head:
        old = before.get(new.case_id)
        if old is None or (old.status == "passed") == (new.status == "passed"):
            continue
        change = CaseChange(
            case_id=new.case_id,
            before=old.status,
            after=new.status,
            score_delta=_score(new) - _score(old),
            latency_delta_ms=_delta(new.latency_ms, old.latency_ms),
        )
        (regressions if old.status == "passed" else fixes).append(change)
    head_ids = {r.case_id for r in head}
    a, b = summarize(base, 1.0), summarize(head, 1.0)
    return TestComparison(
        base_run_id=base_id,
        head_run_id=head_id,
        regressions=regressions,
        fixes=fixes,
        score_delta=b.score - a.score,
        pass_rate_delta=b.pass_rate - a.pass_rate,
        latency_p50_delta_ms=_delta(b.latency_p50_ms, a.latency_p50_ms),
        latency_p95_delta_ms=_delta(b.latency_p95_ms, a.latency_p95_ms),
        added=[r.case_id for r in head if r.case_id not in before],
        removed=[r.case_id for r in base if r.case_id not in head_ids],
    )


# --- JUnit XML -------------------------------------------------------------------------------

# Characters XML 1.0 forbids anywhere (most C0 controls, lone surrogates, U+FFFE/U+FFFF): a
# target's output may hold them, and one of them would make the whole report unparsable.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_OUTPUT_MAX = 20_000  # characters of a case's output kept in <system-out>


def xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot carry."""
    return _NOT_XML.sub("", text)


def _seconds(ms: float | None) -> str:
    return f"{(ms or 0.0) / 1000:.3f}"


def _testcase(suite_name: str, result: CaseResult) -> ET.Element:
    case = ET.Element(
        "testcase",
        name=xml_text(result.case_id),
        classname=xml_text(suite_name),
        time=_seconds(result.latency_ms),
    )
    if result.tags or result.weight != 1.0:
        props = ET.SubElement(case, "properties")
        for tag in result.tags:
            ET.SubElement(props, "property", name="tag", value=xml_text(tag))
        ET.SubElement(props, "property", name="weight", value=f"{result.weight:g}")
        ET.SubElement(props, "property", name="score", value=f"{result.score:.4f}")
    if result.status == "error":
        message = xml_text(result.error or "error")
        error = ET.SubElement(case, "error", message=message[:1000], type="TargetError")
        error.text = message
    elif result.status == "failed":
        failed = [v for v in result.verdicts if not v.passed]
        lines = [xml_text(f"{v.type}: {v.detail}") for v in failed] or ["failed"]
        failure = ET.SubElement(case, "failure", message="; ".join(lines)[:1000], type="assertion")
        failure.text = "\n".join(lines)
    if result.output:
        ET.SubElement(case, "system-out").text = xml_text(result.output[:_OUTPUT_MAX])
    return case


def junit(suite_name: str, results: list[CaseResult], summary: TestSummary) -> str:
    """The run as JUnit XML: one ``<testcase>`` per case (its id as name, the suite as
    classname), each failed assertion's detail in ``<failure>``, target errors as ``<error>``,
    tags as properties; the suite's score, threshold and verdict as the suite's properties."""
    total_s = _seconds(sum(r.latency_ms or 0.0 for r in results))
    counts = {
        "tests": str(summary.cases),
        "failures": str(summary.failed),
        "errors": str(summary.errors),
        "skipped": "0",
        "time": total_s,
    }
    attrs = {"name": xml_text(suite_name), **counts}
    root = ET.Element("testsuites", attrs)
    testsuite = ET.SubElement(root, "testsuite", attrs)
    props = ET.SubElement(testsuite, "properties")
    for name, value in (
        ("score", f"{summary.score:.4f}"),
        ("threshold", f"{summary.threshold:g}"),
        ("pass_rate", f"{summary.pass_rate:.4f}"),
        ("suite_passed", "true" if summary.suite_passed else "false"),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    for result in results:
        testsuite.append(_testcase(suite_name, result))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
