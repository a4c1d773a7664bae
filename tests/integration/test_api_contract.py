"""The OpenAPI document tells the truth: a property-based fuzzer that reads only /openapi.json
(schemathesis, every check, stateful links between creates and the operations on what they
created) finds nothing against the real app served over HTTP.

The fuzzer runs as its own process, as a consumer would run it; its report is printed when it
fails. The rate limits are raised for the run (the session's settings), nothing else is relaxed.
Its configuration only says what the document already says and who may call what:

- every operation runs with an organization owner's key, except the organization operations,
  which run with a platform administrator's (an owner may not create organizations: the fuzzer
  would see nothing but 403 there and test nothing);
- a suite's text and a dataset's file are checked by their content (a 422 naming the case or
  the line), which a string or file schema cannot say, and a copilot configuration's own LLM
  URL by where its host resolves (the egress rule): 422 is expected of those three;
- stateful chains follow the links the document states (and those learnt from Location
  headers), not links the fuzzer infers from parameter names;
- ``GET /api/health`` answers its documented 503 with the same report while Ray is not running
  (these tests run without Ray), so 503 is an expected status of that one operation;
- warnings that mean the document and the API disagree (authentication that never succeeds,
  responses that do not match, patterns the fuzzer cannot read) fail the run like failures do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.integration.live import LiveApi, live_api  # noqa: F401  (a fixture)

EXAMPLES_PER_OPERATION = 15
# A fixed seed in CI, so a failure there reproduces exactly (`st replay`, or this seed locally);
# elsewhere each run explores new cases. SCHEMATHESIS_SEED overrides either.
SEED = os.environ.get("SCHEMATHESIS_SEED") or ("20261206" if os.environ.get("CI") else None)


def _config(live: LiveApi) -> str:
    def bearer(token: str) -> str:
        return json.dumps({"Authorization": f"Bearer {token}"}).replace('":', '" =')

    return "\n".join(
        [
            f"headers = {bearer(live.token)}",
            "",
            # Stateful chains follow the links the document states and those learnt from
            # Location headers. Links inferred by matching parameter names guess wrong here
            # (a created project taken as what makes a body's ``subject`` exist), and a wrong
            # guess reads as the API's fault.
            "[phases.stateful]",
            'inference.algorithms = ["location-headers"]',
            "",
            "[warnings]",
            'fail-on = ["missing_auth", "validation_mismatch", "unsupported_regex",'
            ' "missing_deserializer", "unresolvable_reference"]',
            "",
            "[[operations]]",
            'include-path-regex = "^/api/v1/organizations"',
            f"headers = {bearer(live.admin_token)}",
            "",
            # A suite's text and a dataset's file are validated by their content, which no schema
            # of a string or a file can say: a 422 there (naming the case or the line) is the
            # documented answer to a well-formed request with a bad document. A configuration's
            # own LLM URL must pass the egress rule, which depends on where its host resolves.
            "[[operations]]",
            'include-operation-id = ["add_suite_version", "upload_dataset_version",'
            ' "add_copilot_config_version"]',
            'checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404",'
            ' "409", "422", "429"]',
            # (so random text being mostly refused there is no sign of a schema mismatch)
            'warnings.display = ["missing_auth", "unsupported_regex", "missing_deserializer",'
            ' "unresolvable_reference"]',
            "",
            "[[operations]]",
            'include-operation-id = "get_health"',
            'checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "503"]',
            "",
        ]
    )


def test_every_operation_answers_as_the_document_says(
    live_api: LiveApi,  # noqa: F811  (the fixture)
    tmp_path: Path,
) -> None:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli is not None, "schemathesis is a dev dependency"
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(live_api))
    result = subprocess.run(
        [
            cli,
            "--config-file",
            str(config),
            "--no-color",
            "run",
            f"{live_api.url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--generation-database",
            "none",
            *(["--seed", SEED] if SEED else []),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=900,
    )
    report = result.stdout[-20_000:] + result.stderr[-5_000:]
    assert result.returncode == 0, report


def test_a_platform_administrator_renames_the_organization_it_created(
    live_api: LiveApi,  # noqa: F811  (the fixture)
) -> None:
    """The link the document states from creating an organization to renaming it holds for its
    creator; an organization's own owner still renames only its own."""
    import httpx

    def as_(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    url = f"{live_api.url}/api/v1/organizations"

    def create(slug: str) -> dict[str, Any]:
        body = {"name": slug, "slug": slug, "owner_email": f"o@{slug}.example.com"}
        created = httpx.post(url, headers=as_(live_api.admin_token), json=body)
        assert created.status_code == 201, created.text
        return created.json()  # type: ignore[no-any-return]

    # Fresh organizations: the fuzzer may have revoked the fixture's owner key by now.
    mine, other = create("rename-mine"), create("rename-other")
    target = f"{url}/{other['organization']['id']}"
    renamed = httpx.patch(target, headers=as_(live_api.admin_token), json={"name": "R"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "R"
    refused = httpx.patch(target, headers=as_(mine["owner_api_key"]), json={"name": "X"})
    assert refused.status_code == 404, refused.text


def test_text_postgres_cannot_store_is_a_422_wherever_it_arrives(
    live_api: LiveApi,  # noqa: F811  (the fixture)
) -> None:
    """NUL (in a value, a key, a query, a path) and an unpaired surrogate are refused before any
    route code runs, with the field named; nothing reaches the database (no 500)."""
    import httpx

    created = httpx.post(
        f"{live_api.url}/api/v1/organizations",
        headers={"Authorization": f"Bearer {live_api.admin_token}"},
        json={"name": "Nul", "slug": "nul-check", "owner_email": "o@nul.example.com"},
    )
    assert created.status_code == 201, created.text
    auth = {"Authorization": f"Bearer {created.json()['owner_api_key']}"}
    json_type = {**auth, "Content-Type": "application/json"}
    api = f"{live_api.url}/api/v1"
    cases = [
        ("POST", "/projects", b'{"name": "a\\u0000b"}', ["body", "name"]),
        ("POST", "/projects", b'{"name": "\\ud800x"}', ["body", "name"]),
        ("PUT", "/feature-flags/f", b'{"enabled": true, "value": {"k\\u0000": 1}}', None),
        ("PUT", "/feature-flags/f", b'{"enabled": true, "value": [[{"a": "\\u0000"}]]}', None),
        ("GET", "/audit/events?action=a%00b", None, ["query"]),
        ("GET", "/runs?kind=%00", None, ["query"]),
        ("GET", "/feature-flags/a%00b", None, ["path"]),
    ]
    for method, path, body, loc in cases:
        r = httpx.request(method, api + path, headers=json_type, content=body)
        assert r.status_code == 422, (path, body, r.text)
        detail = r.json()["detail"]
        assert detail[0]["type"] == "string_nul", detail
        if loc is not None:
            assert detail[0]["loc"] == loc, detail
    # A literal backslash-u0000 is six ordinary characters, and an emoji's escaped pair is fine.
    ok = httpx.post(
        f"{api}/projects", headers=json_type, content=b'{"name": "\\\\u0000 \\ud83d\\ude00"}'
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["name"] == "\\u0000 \U0001f600"
