"""The OpenAPI document as the API really behaves: every status a route can answer, the one error
shape (validation errors included), ``Retry-After`` on 429 and 503, the bearer scheme, and links
from each create to the operations on what it created (for clients and stateful fuzzers).

FastAPI documents only the success status and its own 422 body; the answers the platform adds
around every route (authentication, permissions, region pinning, rate limits, body limits,
outages, missing ids) are the same for whole classes of routes, so they are added here from the
route's shape rather than repeated on ~60 decorators.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from raylane.schemas.common import JSON_VALUE_SCHEMA, NUL_FREE

_ERROR = {"$ref": "#/components/schemas/ErrorBody"}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 1},
    }
}
_RATE_HEADERS = {
    name: {"description": text, "schema": {"type": "integer", "minimum": 0}}
    for name, text in (
        ("RateLimit-Limit", "the burst of the tighter limit"),
        ("RateLimit-Remaining", "requests left in it"),
        ("RateLimit-Reset", "seconds until it is full again"),
    )
}
# Status → (description, extra headers). Every one answers the shared error body.
_ANSWERS: dict[str, tuple[str, dict[str, Any]]] = {
    "400": ("the multipart body cannot be parsed", {}),
    "401": ("missing, malformed, unknown, revoked or expired API key", {}),
    "403": ("the key's role or scopes lack the route's permission", {}),
    "404": ("no such resource in the caller's organization (another's answers the same)", {}),
    "409": (
        "a conflict with the current state, or the organization is pinned to another region",
        {},
    ),
    "413": ("the body or an uploaded file is larger than its limit", {}),
    "415": ("the body's media type is not one this operation reads", {}),
    "422": ("the request is not valid (`detail` lists the fields, or says why)", {}),
    "429": (
        "over the key's or the organization's rate limit, or the token quota",
        {
            **_RETRY_AFTER,
            **_RATE_HEADERS,
        },
    ),
    "503": ("a dependency (database, Redis, Ray, the model) is unavailable", _RETRY_AFTER),
}
# The id parameter that names what each create returns (its `id`), for OpenAPI links.
_CREATED_ID = {
    "/api/v1/organizations": "organization_id",
    "/api/v1/users": "user_id",
    "/api/v1/api-keys": "key_id",
    "/api/v1/projects": "project_id",
    "/api/v1/projects/{project_id}/collections": "collection_id",
    "/api/v1/projects/{project_id}/datasets": "dataset_id",
    "/api/v1/projects/{project_id}/experiments": "experiment_id",
    "/api/v1/experiments/{experiment_id}/runs": "experiment_run_id",
}
# Operations a create does not lead to, though their path holds the created id: their bodies
# may name more than the project (a chat's conversation and collections, an endpoint's subject,
# a training run's dataset version, a test run's suite, a configuration's or a dataset's
# collections), which a new project alone answers with 404.
_UNLINKED = {
    "chat",
    "create_endpoint",
    "create_training_run",
    "start_test_run",
    "add_copilot_config_version",
    "create_dataset",
}
# Every operation under these prefixes authenticates with an API key (a test checks that each
# answers 401 without one); the rest (health, metrics, the document itself) need none.
_AUTHENTICATED = ("/api/v1/", "/v1/")


def install(app: FastAPI, *, embedding_models: list[str] | None = None) -> None:
    """Serve the corrected document at ``/openapi.json`` (built once, on first request).

    ``embedding_models``: the names a collection may use here (the deployment's settings), listed
    as the field's enum so that the document refuses what the API refuses.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
            if embedding_models:
                _enum_models(app.openapi_schema, embedding_models)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["ErrorBody"] = _error_schema()
    components["securitySchemes"] = {
        "apiKey": {"type": "http", "scheme": "bearer", "description": "`rl_...` API key"}
    }
    schemas["JsonValue"] = JSON_VALUE_SCHEMA
    seen: set[str] = set()
    for path, item in doc.get("paths", {}).items():
        for op in item.values():
            _complete(op, path)
            for param in op.get("parameters", []):
                _nul_free(param.get("schema", {}), schemas, seen)
            for media in op.get("requestBody", {}).get("content", {}).values():
                _nul_free(media.get("schema", {}), schemas, seen)
    _link_creates(doc)
    _mark_binary(schemas)
    return doc


# Formats whose own syntax has no room for a NUL; every other string gets the NUL-free pattern.
_FORMATTED = {"uuid", "date-time", "binary", "email"}
_SUBSCHEMAS = ("items", "not", "contains")
_COMBINED = ("anyOf", "oneOf", "allOf", "prefixItems")
_ANNOTATIONS = {"title", "description", "default", "examples", "deprecated"}
_JSON_VALUE = {"$ref": "#/components/schemas/JsonValue"}


def _nul_free(schema: Any, components: dict[str, Any], seen: set[str]) -> None:
    """Say in every request schema what ``raylane.serve.routing`` enforces: no string, object key
    or free-form value holds U+0000. Strings without a pattern get one; maps get NUL-free
    ``propertyNames``; values that may be anything become ``JsonValue``."""
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        if name not in seen:
            seen.add(name)
            _nul_free(components.get(name), components, seen)
        return
    if schema.keys() <= _ANNOTATIONS:  # any value at all
        schema.update(_JSON_VALUE)
        return
    if (
        schema.get("type") == "string"
        and not {"pattern", "enum", "const", "contentMediaType"} & schema.keys()
        and schema.get("format") not in _FORMATTED
    ):
        schema["pattern"] = NUL_FREE
    if schema.get("type") == "object":
        # A map (free keys) says its keys are NUL-free. A model with fixed properties and no
        # word on extras (a form) ignores unknown fields, so the document leaves them open.
        if "patternProperties" in schema:  # pydantic's dict with patterned keys: only those
            schema.setdefault("additionalProperties", False)
        extra = schema.get("additionalProperties", None if "properties" in schema else True)
        if extra is not None and extra is not False:
            schema.setdefault("propertyNames", {"pattern": NUL_FREE})
            if extra is True or extra == {}:
                schema["additionalProperties"] = dict(_JSON_VALUE)
    for key in _SUBSCHEMAS:
        _nul_free(schema.get(key), components, seen)
    for key in _COMBINED:
        for sub in schema.get(key, []):
            _nul_free(sub, components, seen)
    for key in ("properties", "patternProperties"):
        for sub in schema.get(key, {}).values():
            _nul_free(sub, components, seen)
    _nul_free(schema.get("additionalProperties"), components, seen)


def _error_schema() -> dict[str, Any]:
    item = {
        "type": "object",
        "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"type": "string"},
            "type": {"type": "string"},
        },
        "required": ["loc", "msg", "type"],
    }
    return {
        "title": "ErrorBody",
        "description": "Every error answer: a stable code and a message (or, for request "
        "validation, the list of fields at fault).",
        "type": "object",
        "properties": {
            "error": {"type": "string", "description": "stable machine-readable code"},
            "detail": {"anyOf": [{"type": "string"}, {"type": "array", "items": item}]},
            "request_id": {"type": "string", "description": "set on 500 answers"},
        },
        "required": ["error", "detail"],
    }


def _complete(op: dict[str, Any], path: str) -> None:
    statuses = {"422"}
    if path.startswith(_AUTHENTICATED):
        # 404 on every one: ids arrive in paths, bodies (a key's user_id, a check's project_id)
        # and OpenAI model names alike, and another tenant's answers like a missing one.
        statuses |= {"401", "403", "404", "409", "429", "503"}
        op["security"] = [{"apiKey": []}]
    if "{" in path:
        statuses.add("404")
    if "requestBody" in op:
        statuses |= {"413", "415", "409"}
        if "multipart/form-data" in op["requestBody"].get("content", {}):
            statuses.add("400")  # the form parser's own answer to a broken body
    responses = op.setdefault("responses", {})
    if path == "/api/health":  # degraded: the same report, with 503 (for load balancers)
        responses["503"] = {**responses["200"], "description": "a dependency is down"}
    for status in sorted(statuses):
        description, headers = _ANSWERS[status]
        answer: dict[str, Any] = {
            "description": description,
            "content": {"application/json": {"schema": _ERROR}},
        }
        if headers:
            answer["headers"] = headers
        responses[status] = answer


def _link_creates(doc: dict[str, Any]) -> None:
    paths = doc.get("paths", {})
    for create_path, param in _CREATED_ID.items():
        create = paths.get(create_path, {}).get("post")
        if create is None:
            continue
        success = next((s for s in ("201", "200") if s in create.get("responses", {})), None)
        if success is None:
            continue
        links: dict[str, Any] = {}
        for path, item in paths.items():
            if "{" + param + "}" not in path:
                continue
            for op in item.values():
                if op["operationId"] in _UNLINKED:
                    continue
                others = set(re.findall(r"{(\w+)}", path)) - {param}
                parameters = {param: "$response.body#/id"}
                if others and others <= set(re.findall(r"{(\w+)}", create_path)):
                    parameters |= {p: f"$request.path.{p}" for p in others}
                elif others:
                    continue  # a parameter the create does not know
                links[op["operationId"]] = {
                    "operationId": op["operationId"],
                    "parameters": parameters,
                }
        if links:
            create["responses"][success]["links"] = links


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method the document lists for this request path (for a 405's ``Allow``)."""
    methods: set[str] = set()
    for template, item in app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)), path):
            methods |= {m.upper() for m in item}
    return sorted(methods)


def _enum_models(doc: dict[str, Any], names: list[str]) -> None:
    field = doc["components"]["schemas"].get("CollectionCreate", {}).get("properties", {})
    for option in field.get("embedding_model", {}).get("anyOf", []):
        if option.get("type") == "string":
            option["enum"] = sorted(names)
            option.pop("pattern", None)


def _mark_binary(schemas: dict[str, Any]) -> None:
    """File parts say ``format: binary`` as well as OpenAPI 3.1's ``contentMediaType``: the
    common generators (openapi-python-client, openapi-generator) read only the former, and would
    otherwise send a file's name as a text field."""
    pending: list[Any] = list(schemas.values())
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if node.get("type") == "string" and "contentMediaType" in node:
                node.setdefault("format", "binary")
                node.setdefault("minLength", 1)  # an empty file is refused (422)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
