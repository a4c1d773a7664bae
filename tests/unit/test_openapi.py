"""The document as built from the app (no server): operation ids, the NUL rule, strict types,
and the rules a request body obeys, stated where a client can read them."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pydantic
import pytest

from raylane.schemas.api_keys import SCOPES, ApiKeyCreate
from raylane.schemas.collections import CollectionCreate, SearchRequest
from raylane.schemas.common import NON_BLANK, WHITESPACE, DateTime
from raylane.schemas.copilot import ChatBody
from raylane.schemas.flags import FeatureFlagUpsert
from raylane.schemas.projects import ProjectCreate
from raylane.serve.app import create_app
from raylane.serve.routing import nul_at


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return create_app().openapi()


def _operations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for item in doc["paths"].values() for op in item.values()]


def test_operation_ids_are_the_unique_route_names(doc: dict[str, Any]) -> None:
    ids = [op["operationId"] for op in _operations(doc)]
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    assert all(re.fullmatch(r"[a-z]+(_[a-z0-9]+)*", i) for i in ids), ids
    assert "create_project" in ids and "create_project_api_v1_projects_post" not in ids


def _strings(node: Any, inside: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "string":
            found.append((inside, node))
        for key, value in node.items():
            if key != "propertyNames":
                found += _strings(value, f"{inside}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _strings(value, f"{inside}/{i}")
    return found


def test_every_request_string_is_nul_free(doc: dict[str, Any]) -> None:
    request_schemas = {
        m.group(1)
        for op in _operations(doc)
        for m in re.finditer(r"#/components/schemas/(\w+)", json.dumps(op.get("requestBody", {})))
    }
    assert {"ProjectCreate", "FeatureFlagUpsert", "SearchRequest"} <= request_schemas
    schemas = doc["components"]["schemas"]
    places = [("params", p["schema"]) for op in _operations(doc) for p in op.get("parameters", [])]
    places += [(name, schemas[name]) for name in request_schemas]
    for where, schema in places:
        for path, string in _strings(schema):
            if "enum" in string or string.get("format") in {"uuid", "binary", "date-time"}:
                continue
            pattern = string.get("pattern", "")
            # The NUL-free pattern itself, or a pattern of its own whose class has no NUL.
            nul_free = "\\u0000" in pattern or not re.search(pattern, "a\x00a")
            assert pattern and nul_free, (where, path, string)


def test_free_form_values_are_json_values_without_nul(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert schemas["FeatureFlagUpsert"]["properties"]["value"]["$ref"].endswith("/JsonValue")
    metadata = schemas["DocumentText"]["properties"]["metadata"]
    assert metadata["additionalProperties"]["$ref"].endswith("/JsonValue")
    assert metadata["propertyNames"]["pattern"] == "^[^\\u0000]*$"
    assert schemas["JsonValue"]["pattern"] == "^[^\\u0000]*$"


def test_nul_is_found_in_keys_and_nested_values() -> None:
    assert nul_at({"a": [1, {"b": "x\x00"}]}) == ("a", 1, "b")
    assert nul_at({"k\x00": 1}) == ("k\\u0000",)
    assert nul_at({"a": "\\u0000 is text here"}) is None


def test_the_whitespace_class_is_what_strip_removes() -> None:
    expected = "".join(c for c in map(chr, range(0x110000)) if c.isspace())
    in_class = re.compile(f"[{WHITESPACE}]")
    assert "".join(c for c in map(chr, range(0x110000)) if in_class.fullmatch(c)) == expected


@pytest.mark.parametrize("blank", [" ", "\n\t", "\u3000", "\x85", "\u2028 "])
def test_a_blank_name_is_refused_and_a_padded_one_stripped(blank: str) -> None:
    assert not re.fullmatch(NON_BLANK, blank)
    with pytest.raises(pydantic.ValidationError):
        ProjectCreate(name=blank)
    assert ProjectCreate(name=f"{blank}x{blank}").name == "x"


def test_lengths_count_the_text_as_sent() -> None:
    with pytest.raises(pydantic.ValidationError):
        ProjectCreate(name="x" * 200 + " ")  # 201 characters sent: the document refuses it


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (FeatureFlagUpsert, "enabled", 0),
        (FeatureFlagUpsert, "enabled", "true"),
        (SearchRequest, "top_k", "5"),
        (SearchRequest, "top_k", True),
        (SearchRequest, "top_k", 2.5),
        (ChatBody, "temperature", False),
        (ChatBody, "temperature", "0.5"),
    ],
)
def test_types_are_strict_like_json_schema(model: Any, field: str, value: Any) -> None:
    base: dict[str, Any] = {
        FeatureFlagUpsert: {"enabled": True},
        SearchRequest: {"query": "q"},
        ChatBody: {"messages": [{"role": "user", "content": "hi"}]},
    }[model]
    with pytest.raises(pydantic.ValidationError):
        model.model_validate({**base, field: value})


def test_an_integral_float_is_an_integer_as_in_json_schema() -> None:
    assert SearchRequest.model_validate({"query": "q", "top_k": 7.0}).top_k == 7


@pytest.mark.parametrize("value", ["0.5", "2026-01-01", "2026-01-01T00:00:00", "1700000000"])
def test_date_times_are_rfc_3339_with_an_offset(value: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        pydantic.TypeAdapter(DateTime).validate_python(value)


def test_an_rfc_3339_date_time_is_read() -> None:
    read = pydantic.TypeAdapter(DateTime).validate_python("2026-01-31T12:00:00.5+01:00")
    assert read.utcoffset() is not None


def test_cross_field_rules_are_in_the_document(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    search = schemas["SearchRequest"]
    assert search["not"] == {"required": ["query", "vector"]}
    assert search["else"] == {"required": ["query"]}
    assert search["then"]["properties"]["mode"]["const"] == "vector"
    assert schemas["ChatBody"]["properties"]["messages"]["contains"]["properties"]["role"] == {
        "const": "user"
    }
    detectors = schemas["GuardrailPolicyBody"]["properties"]["detectors"]["properties"]
    assert detectors["injection"]["properties"]["action"]["enum"] == ["block", "flag"]
    scopes = schemas["ApiKeyCreate"]["properties"]["scopes"]["items"]["enum"]
    assert set(scopes) == set(SCOPES)
    size = schemas["CollectionCreate"]["properties"]["chunk_max_tokens"]["anyOf"][0]
    overlap = schemas["CollectionCreate"]["properties"]["chunk_overlap"]["anyOf"][0]
    assert overlap["maximum"] < size["minimum"]  # every pair a client can send is valid
    upload = schemas["Body_upload_documents"]
    assert upload["required"] == ["files"] and upload["properties"]["files"]["minItems"] == 1


def test_the_chat_question_is_the_last_user_message() -> None:
    body = ChatBody.model_validate(
        {"messages": [{"role": "user", "content": "q"}, {"role": "system", "content": "s"}]}
    )
    assert body.messages[0].content == "q"
    with pytest.raises(pydantic.ValidationError):
        ChatBody.model_validate({"messages": [{"role": "assistant", "content": "a"}]})


def test_scopes_are_the_server_permissions() -> None:
    from raylane.core.rbac import Permission

    assert set(SCOPES) == {p.value for p in Permission} | {"*"}
    with pytest.raises(pydantic.ValidationError):
        ApiKeyCreate(name="k", scopes=["nope"])  # type: ignore[list-item]


def test_the_overlap_bound_keeps_below_the_smallest_chunk() -> None:
    with pytest.raises(pydantic.ValidationError):
        CollectionCreate(name="c", chunk_overlap=64)


def test_multipart_operations_document_400(doc: dict[str, Any]) -> None:
    upload = doc["paths"]["/api/v1/collections/{collection_id}/documents"]["post"]
    assert "400" in upload["responses"]
