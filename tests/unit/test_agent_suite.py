"""Suite documents: parsing YAML and JSON, errors that name the case and the field, rendering,
the digest, and the structured errors reaching the 422 body."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from raylane.core.agenttests import suite
from raylane.errors import InvalidInput
from raylane.serve.errors import install

GOOD = """
threshold: 0.8
defaults:
  timeout_s: 10
  assert: [{type: latency, max_ms: 5000}]
cases:
  - id: launch-date
    messages: [{role: user, content: "When is the launch of {{product}}?"}]
    vars: {product: Raylane}
    tags: [facts]
    weight: 2
    assert:
      - {type: contains, value: May}
  - id: hello
    input: Hello
"""


def _invalid(text: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        suite.parse(text)
    return info.value


def _suite(*cases: str) -> str:
    return "cases:\n" + "".join(cases)


class TestParse:
    def test_a_valid_suite(self) -> None:
        doc = suite.parse(GOOD)
        assert [c.id for c in doc.cases] == ["launch-date", "hello"]
        assert doc.threshold == 0.8 and doc.cases[0].weight == 2
        # ``input`` is shorthand for one user message
        assert doc.cases[1].messages[0].role == "user"
        assert doc.cases[1].messages[0].content == "Hello"

    def test_json_is_accepted_and_digests_like_the_same_yaml(self) -> None:
        doc = suite.parse(GOOD)
        as_json = json.dumps(doc.model_dump(mode="json", by_alias=True), indent=3)
        assert suite.digest(suite.parse(as_json)) == suite.digest(doc)

    def test_the_digest_ignores_formatting_but_not_content(self) -> None:
        a = suite.parse("cases: [{id: a, input: hi}]")
        b = suite.parse("# a comment\ncases:\n  - input: hi\n    id: a\n")
        c = suite.parse('{"cases": [{"id": "a", "messages": [{"role": "user", "content": "hi"}]}]}')
        d = suite.parse("cases: [{id: a, input: hello}]")
        assert suite.digest(a) == suite.digest(b) == suite.digest(c) != suite.digest(d)
        assert len(suite.digest(a)) == 64

    def test_yaml_numbers_and_dates_in_text_fields_are_text(self) -> None:
        doc = suite.parse(
            "cases:\n  - id: 42\n    input: x\n    assert:\n"
            "      - {type: contains, value: 2026-05-01}\n"
            "      - {type: equals, value: no}\n"
            "      - {type: contains, value: 2026}\n"
        )
        assert doc.cases[0].id == "42"
        assert [a.value for a in doc.cases[0].assertions] == ["2026-05-01", "no", "2026"]  # type: ignore[union-attr]

    def test_effective_assertions_are_the_defaults_then_the_cases_own(self) -> None:
        doc = suite.parse(GOOD)
        kinds = [a.type for a in suite.effective_assertions(doc, doc.cases[0])]
        assert kinds == ["latency", "contains"]
        assert [a.type for a in suite.effective_assertions(doc, doc.cases[1])] == ["latency"]


class TestParseErrors:
    def test_a_bad_type_names_case_index_id_and_field(self) -> None:
        error = _invalid(_suite("  - id: a\n    input: x\n    weight: heavy\n"))
        assert error.detail.startswith('cases[0] (id "a") → weight: ')
        assert error.extra["errors"] == [
            {
                "case": "a",
                "index": 0,
                "field": "weight",
                "message": error.extra["errors"][0]["message"],
            }
        ]

    def test_an_assertion_error_names_its_type(self) -> None:
        text = _suite(
            "  - id: first\n    input: x\n",
            "  - id: second\n    input: x\n",
            "  - id: third\n    input: x\n",
            "  - id: launch-date\n    input: x\n    assert:\n"
            "      - {type: latency, max_ms: 10}\n      - {type: contains}\n",
        )
        error = _invalid(text)
        assert error.detail == (
            'cases[3] (id "launch-date") → assert[1] (contains): '
            "give exactly one of 'value' or 'values'"
        )
        assert error.extra["errors"] == [
            {
                "case": "launch-date",
                "index": 3,
                "field": "assert[1]",
                "message": "give exactly one of 'value' or 'values'",
            }
        ]

    def test_an_unknown_field_is_refused_by_name(self) -> None:
        error = _invalid(
            _suite("  - id: a\n    input: x\n    assert: [{type: regex, patern: x}]\n")
        )
        fields = {e["field"] for e in error.extra["errors"]}
        assert "assert[0].patern" in fields and "assert[0].pattern" in fields
        assert 'cases[0] (id "a") → assert[0] (regex) → patern: unknown field' in error.detail

    def test_an_unknown_assertion_type(self) -> None:
        error = _invalid(
            _suite("  - id: a\n    input: x\n    assert: [{type: contain, value: x}]\n")
        )
        assert "assert[0]: unknown assertion type 'contain'" in error.detail

    def test_a_case_without_input(self) -> None:
        error = _invalid(_suite("  - id: a\n    tags: [x]\n"))
        [problem] = error.extra["errors"]
        assert problem["case"] == "a" and problem["index"] == 0
        assert "needs 'input'" in problem["message"]

    def test_a_case_that_is_not_a_mapping_and_one_without_id(self) -> None:
        error = _invalid(_suite("  - {id: a, input: x}\n", "  - just text\n", "  - {input: y}\n"))
        assert error.extra["errors"] == [
            {"case": None, "index": 1, "field": "", "message": "expected a mapping, got string"},
            {"case": None, "index": 2, "field": "id", "message": "required field missing"},
        ]
        assert "cases[2] → id: required field missing" in error.detail

    def test_a_duplicate_id_names_both_cases(self) -> None:
        error = _invalid(
            _suite("  - {id: a, input: x}\n", "  - {id: b, input: x}\n", "  - {id: a, input: y}\n")
        )
        assert error.extra["errors"] == [
            {
                "case": "a",
                "index": 2,
                "field": "id",
                "message": "id 'a' is used twice (first by cases[0])",
            }
        ]

    def test_a_bad_regex_is_an_error_at_parse_time(self) -> None:
        error = _invalid(
            _suite("  - id: a\n    input: x\n    assert: [{type: regex, pattern: 'May ('}]\n")
        )
        [problem] = error.extra["errors"]
        assert problem["field"] == "assert[0].pattern"
        assert problem["message"].startswith("not a valid regular expression")
        assert error.detail.startswith('cases[0] (id "a") → assert[0] (regex) → pattern: ')

    def test_a_bad_tool_argument_regex(self) -> None:
        error = _invalid(
            _suite(
                "  - id: a\n    input: x\n    assert:\n"
                "      - {type: tool-calls, calls: [{name: s, arguments: {q: {regex: '[a'}}}]}\n"
            )
        )
        assert error.extra["errors"][0]["field"] == "assert[0].calls[0].arguments.q.regex"

    def test_a_bad_json_schema_is_an_error_at_parse_time(self) -> None:
        error = _invalid(
            _suite(
                "  - id: a\n    input: x\n    assert: [{type: json, schema: {type: whatever}}]\n"
            )
        )
        [problem] = error.extra["errors"]
        assert problem["field"] == "assert[0].schema"
        assert problem["message"].startswith("not a valid JSON Schema")

    def test_a_bad_pattern_inside_a_json_schema(self) -> None:
        error = _invalid(
            _suite(
                "  - id: a\n    input: x\n    assert:\n"
                "      - {type: json, schema: {properties: {d: {pattern: '[0-9'}}}}\n"
            )
        )
        [problem] = error.extra["errors"]
        assert problem["field"] == "assert[0].schema"
        assert "['properties']['d']['pattern']" in problem["message"]
        assert "regex" in problem["message"] or "regular expression" in problem["message"]

    def test_an_unknown_variable_names_case_and_variable(self) -> None:
        error = _invalid(
            _suite(
                "  - id: a\n    vars: {product: X}\n    messages:\n"
                "      - {role: user, content: 'When is {{ launch }} of {{product}}?'}\n"
            )
        )
        assert error.extra["errors"] == [
            {
                "case": "a",
                "index": 0,
                "field": "messages[0].content",
                "message": "unknown variable {{launch}} (vars defined: product)",
            }
        ]
        shorthand = _invalid(_suite("  - {id: b, input: 'hi {{name}}'}\n"))
        assert shorthand.extra["errors"][0]["field"] == "input"

    def test_problems_of_a_broken_case_are_all_reported(self) -> None:
        """A case that fails validation still has its regexes and schemas checked."""
        error = _invalid(
            _suite(
                "  - id: a\n    input: x\n    weight: -1\n    assert:\n"
                "      - {type: regex, pattern: '('}\n"
                "      - {type: json, schema: {type: 3}}\n"
            )
        )
        assert [e["field"] for e in error.extra["errors"]] == [
            "weight",
            "assert[0].pattern",
            "assert[1].schema",
        ]
        assert error.detail.startswith("the suite is invalid (3 errors):\n")

    def test_a_defaults_error_names_the_field(self) -> None:
        error = _invalid("defaults: {assert: [{type: latency}]}\ncases: [{id: a, input: x}]\n")
        assert error.extra["errors"] == [
            {
                "case": None,
                "index": None,
                "field": "defaults.assert[0].max_ms",
                "message": "required field missing",
            }
        ]
        assert error.detail == "defaults.assert[0] (latency) → max_ms: required field missing"

    def test_at_most_ten_errors_are_listed(self) -> None:
        error = _invalid(_suite(*[f"  - {{id: c{i}}}\n" for i in range(14)]))
        lines = error.detail.splitlines()
        assert lines[0] == "the suite is invalid (14 errors):"
        assert len(lines) == 12 and lines[-1] == "... and 4 more"
        assert len(error.extra["errors"]) == 14

    def test_a_yaml_syntax_error_gives_line_and_column(self) -> None:
        error = _invalid("cases:\n  - id: a\n    input: [unclosed\n  - id: b\n")
        assert "not valid YAML at line 4, column" in error.detail

    def test_broken_json_is_reported_with_its_position(self) -> None:
        error = _invalid('{"cases": [\n  {"id": "a", "input": "x"},\n  {"id": "b" "input": 1}]}')
        assert "not valid YAML at line 3" in error.detail

    @pytest.mark.parametrize(
        ("text", "what"),
        [("", "empty"), ("- a\n- b\n", "a list"), ("just text", "a string"), ("42", "a number")],
    )
    def test_a_document_that_is_not_a_mapping(self, text: str, what: str) -> None:
        error = _invalid(text)
        assert error.detail == f"a suite document is a mapping with 'cases' (this one is {what})"

    def test_yaml_aliases_are_refused(self) -> None:
        """The billion-laughs shape: nine levels of ten aliases would be 10^9 nodes."""
        lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        for level in "bcdefghi":
            previous = chr(ord(level) - 1)
            lines.append(f"{level}: &{level} [{', '.join([f'*{previous}'] * 10)}]")
        lines.append("cases: [{id: x, input: *i}]")
        error = _invalid("\n".join(lines))
        assert "YAML aliases (*a) are not allowed" in error.detail

    def test_more_than_5000_cases_are_refused_before_validation(self) -> None:
        cases = [{"id": f"c{i}", "input": "x"} for i in range(5001)]
        error = _invalid(json.dumps({"cases": cases}))
        assert error.detail == "at most 5000 cases in a suite (this one has 5001)"


class TestRender:
    def test_variables_are_substituted(self) -> None:
        doc = suite.parse(GOOD)
        case = doc.cases[0]
        assert suite.render(case.messages, case.vars) == [
            {"role": "user", "content": "When is the launch of Raylane?"}
        ]

    def test_values_render_as_written(self) -> None:
        messages = [{"role": "user", "content": "{{a}} {{ b }} {{c}} {{not a var}}"}]
        rendered = suite.render(messages, {"a": True, "b": 3, "c": 1.5})
        assert rendered[0]["content"] == "true 3 1.5 {{not a var}}"

    def test_an_unknown_variable_is_invalid_input(self) -> None:
        with pytest.raises(InvalidInput, match=r"unknown variable \{\{x\}\}"):
            suite.render([{"role": "user", "content": "{{x}}"}], {})


class TestErrorBody:
    def test_the_structured_errors_reach_the_422_body(self) -> None:
        """The API answers a bad suite with every problem as data, not only as text."""
        app = FastAPI()
        install(app)

        @app.post("/suite")
        async def upload(body: dict[str, Any]) -> dict[str, Any]:
            suite.parse(body["content"])
            return {}

        bad = _suite(
            "  - id: launch-date\n    input: x\n    assert: [{type: regex, pattern: '('}]\n"
        )
        r = TestClient(app).post("/suite", json={"content": bad})
        assert r.status_code == 422
        body = r.json()
        assert body["error"] == "validation_error"
        assert body["detail"].startswith('cases[0] (id "launch-date") → assert[0] (regex)')
        assert body["errors"] == [
            {
                "case": "launch-date",
                "index": 0,
                "field": "assert[0].pattern",
                "message": body["errors"][0]["message"],
            }
        ]
