"""A run's summary, the comparison of two runs, and the JUnit XML file."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

import pytest

from raylane.core.agenttests import report
from raylane.core.agenttests.types import CaseResult, Verdict

BASE_ID, HEAD_ID = uuid.uuid4(), uuid.uuid4()


def result(
    case_id: str,
    status: str = "passed",
    score: float | None = None,
    *,
    weight: float = 1.0,
    tags: tuple[str, ...] = (),
    latency_ms: float | None = 100.0,
    **kw: object,
) -> CaseResult:
    if score is None:
        score = {"passed": 1.0, "failed": 0.0, "error": 0.0}[status]
    return CaseResult(
        case_id=case_id,
        status=status,  # type: ignore[arg-type]
        score=score,
        weight=weight,
        tags=list(tags),
        latency_ms=latency_ms,
        **kw,  # type: ignore[arg-type]
    )


class TestSummarize:
    RESULTS = [
        result("a", "passed", 1.0, weight=3, tags=("facts",), latency_ms=100),
        result("b", "failed", 0.5, weight=1, tags=("facts", "multi-turn"), latency_ms=300),
        result("c", "passed", 1.0, weight=2, tags=("multi-turn",), latency_ms=200),
        # an error counts as failed with score 0 whatever it carries, and has no latency
        result("d", "error", 0.7, weight=2, tags=("facts",), latency_ms=None, error="500"),
    ]

    def test_counts_rates_and_the_weighted_score(self) -> None:
        s = report.summarize(self.RESULTS, threshold=0.6)
        assert (s.cases, s.passed, s.failed, s.errors) == (4, 2, 1, 1)
        assert s.pass_rate == 0.5
        assert s.score == pytest.approx((3 * 1 + 1 * 0.5 + 2 * 1 + 2 * 0) / 8)  # 0.6875
        assert s.threshold == 0.6 and s.suite_passed

    def test_the_suite_fails_under_its_threshold(self) -> None:
        assert not report.summarize(self.RESULTS, threshold=0.7).suite_passed

    def test_a_score_equal_to_the_threshold_passes(self) -> None:
        # (0.1 + 0.1 + 0.7 + 0.7) / 4 is 0.39999999999999997 in floating point
        results = [result(str(i), "failed", s) for i, s in enumerate([0.1, 0.1, 0.7, 0.7])]
        summary = report.summarize(results, threshold=0.4)
        assert summary.score == pytest.approx(0.4) and summary.suite_passed

    def test_per_tag_breakdown(self) -> None:
        by_tag = report.summarize(self.RESULTS, threshold=0.6).by_tag
        assert set(by_tag) == {"facts", "multi-turn"}
        facts = by_tag["facts"]
        assert (facts["cases"], facts["passed"]) == (3, 1)
        assert facts["pass_rate"] == pytest.approx(1 / 3)
        assert facts["score"] == pytest.approx((3 * 1 + 1 * 0.5 + 2 * 0) / 6)
        multi = by_tag["multi-turn"]
        assert (multi["cases"], multi["passed"], multi["pass_rate"]) == (2, 1, 0.5)
        assert multi["score"] == pytest.approx((0.5 + 2 * 1) / 3)

    def test_latency_percentiles_are_nearest_rank_over_answered_cases(self) -> None:
        s = report.summarize(self.RESULTS, threshold=0.6)
        assert (s.latency_p50_ms, s.latency_p95_ms) == (200, 300)
        values = [float(v) for v in range(1, 101)]
        assert report.percentile(values, 50) == 50 and report.percentile(values, 95) == 95
        assert report.percentile([7.0], 95) == 7.0 and report.percentile([], 50) is None

    def test_nothing_answered(self) -> None:
        s = report.summarize([result("a", "error", latency_ms=None)], threshold=0)
        assert (s.latency_p50_ms, s.latency_p95_ms, s.score) == (None, None, 0.0)
        empty = report.summarize([], threshold=0.5)
        assert (empty.cases, empty.pass_rate, empty.suite_passed) == (0, 0.0, False)


class TestCompare:
    def test_finds_a_planted_regression_and_a_fix(self) -> None:
        base = [
            result("stable", "passed", latency_ms=100),
            result("regressed", "passed", latency_ms=100),
            result("crashed", "passed", latency_ms=100),
            result("fixed", "failed", 0.25, latency_ms=400),
            result("gone", "passed"),
        ]
        head = [
            result("stable", "passed", latency_ms=120),
            result("regressed", "failed", 0.5, latency_ms=150),
            result("crashed", "error", latency_ms=None, error="timed out"),
            result("fixed", "passed", latency_ms=100),
            result("new", "failed"),
        ]
        c = report.compare(base, head, BASE_ID, HEAD_ID)
        assert (c.base_run_id, c.head_run_id) == (BASE_ID, HEAD_ID)
        assert [(r.case_id, r.before, r.after) for r in c.regressions] == [
            ("regressed", "passed", "failed"),
            ("crashed", "passed", "error"),
        ]
        assert c.regressions[0].score_delta == -0.5
        assert c.regressions[0].latency_delta_ms == 50
        assert c.regressions[1].latency_delta_ms is None
        assert [(f.case_id, f.score_delta, f.latency_delta_ms) for f in c.fixes] == [
            ("fixed", 0.75, -300)
        ]
        assert c.added == ["new"] and c.removed == ["gone"]
        # each run's own summary: base 4.25/5, head 2.5/5
        assert c.score_delta == pytest.approx(2.5 / 5 - 4.25 / 5)
        assert c.pass_rate_delta == pytest.approx(2 / 5 - 4 / 5)
        # answered cases only: base 100 100 100 100 400, head 100 100 120 150 (no "crashed")
        assert (c.latency_p50_delta_ms, c.latency_p95_delta_ms) == (0, 150 - 400)

    def test_identical_runs_have_no_changes(self) -> None:
        runs = [result("a"), result("b", "failed")]
        c = report.compare(runs, runs, BASE_ID, HEAD_ID)
        assert c.regressions == c.fixes == c.added == c.removed == []
        assert c.score_delta == 0 and c.latency_p95_delta_ms == 0


class TestJunit:
    RESULTS = [
        result(
            "launch-date", "passed", tags=("facts", "demo"), latency_ms=1234.5, output="In May."
        ),
        result(
            "no-placeholders",
            "failed",
            0.5,
            weight=2,
            verdicts=[
                Verdict("contains", True, 1.0, "found 'May'"),
                Verdict("not-contains", False, 0.0, "found '[date]' in the output"),
                Verdict("latency", False, 0.0, "took 9000 ms > 5000 ms"),
            ],
            output="On [date] at [time].",
        ),
        result("flaky", "error", latency_ms=None, error="timed out after 30 s", attempts=3),
    ]

    def _parse(self, results: list[CaseResult]) -> ET.Element:
        summary = report.summarize(results, threshold=0.9)
        return ET.fromstring(report.junit("copilot-demo", results, summary))

    def test_counts_names_and_verdicts(self) -> None:
        root = self._parse(self.RESULTS)
        suite = root.find("testsuite")
        assert suite is not None
        for element in (root, suite):
            assert element.get("tests") == "3"
            assert element.get("failures") == "1" and element.get("errors") == "1"
        cases = suite.findall("testcase")
        assert [c.get("name") for c in cases] == ["launch-date", "no-placeholders", "flaky"]
        assert {c.get("classname") for c in cases} == {"copilot-demo"}
        assert cases[0].get("time") == "1.234" and cases[0].find("failure") is None
        assert cases[0].findtext("system-out") == "In May."
        tags = [p.get("value") for p in cases[0].iter("property") if p.get("name") == "tag"]
        assert tags == ["facts", "demo"]
        failure = cases[1].find("failure")
        assert failure is not None
        assert failure.get("message") == (
            "not-contains: found '[date]' in the output; latency: took 9000 ms > 5000 ms"
        )
        assert failure.text is not None and "found 'May'" not in failure.text
        error = cases[2].find("error")
        assert error is not None and error.get("message") == "timed out after 30 s"
        props = {p.get("name"): p.get("value") for p in suite.find("properties") or []}
        assert props["suite_passed"] == "false" and props["threshold"] == "0.9"

    @pytest.mark.parametrize(
        "hostile",
        [
            "ends the section ]]> and <![CDATA[ opens one",
            "controls \x00\x01\x08\x0b\x0c\x1b and \ufffe\uffff",
            "a lone surrogate \ud800 here",
            '<testcase name="forged"/> & "quotes" \'too\'',
        ],
    )
    def test_hostile_output_still_parses(self, hostile: str) -> None:
        results = [
            result(
                "bad", "failed", output=hostile, verdicts=[Verdict("equals", False, 0.0, hostile)]
            ),
            result("err", "error", error=hostile, latency_ms=None),
        ]
        root = self._parse(results)
        cases = root.iter("testcase")
        assert [c.get("name") for c in cases] == ["bad", "err"]
        out = root.findtext(".//system-out") or ""
        assert out == report.xml_text(hostile) and "\x00" not in out
        if "]]>" in hostile:
            assert "]]>" in out  # kept as text, escaped by the writer
