"""CLI unit tests for collections, docs, ingest, search and runs against a fake API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from raylane.cli import context
from raylane.cli.main import app
from tests.unit.fake_api import (
    API_KEY,
    BASE_URL,
    FakeApi,
    collection_json,
    document_json,
    hit_json,
    isolate_env,
    json_body,
    logs_json,
    multipart_parts,
    page,
    progress,
    run_json,
    search_json,
    uploaded_json,
)

CONN = ["--url", BASE_URL, "--api-key", API_KEY]
PID = str(uuid.uuid4())
CID = str(uuid.uuid4())
RID = str(uuid.uuid4())
COLLECTION = f"/api/v1/collections/{CID}"
DOCUMENTS = f"{COLLECTION}/documents"
RUN = f"/api/v1/runs/{RID}"


@pytest.fixture(autouse=True)
def config_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    context.set_transport_factory(fake.transport)
    yield fake
    context.set_transport_factory(None)


def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, [*CONN, *args], input=input, env={"COLUMNS": "200"})


def files(tmp_path: Path, *names: str) -> list[str]:
    paths = []
    for name in names:
        path = tmp_path / name
        path.write_text(f"content of {name}")
        paths.append(str(path))
    return paths


def run_progress(api: FakeApi, final: str, *, error: str | None = None) -> None:
    """Queue a run going queued -> running (twice) -> ``final``."""
    api.on("GET", RUN, body=run_json("queued", id=RID))
    api.on("GET", RUN, body=run_json("running", id=RID, progress=progress((1, 3), (10, 40))))
    api.on("GET", RUN, body=run_json("running", id=RID, progress=progress((3, 3), (40, 40))))
    api.on(
        "GET", RUN, body=run_json(final, id=RID, progress=progress((3, 3), (40, 40)), error=error)
    )


class TestCollections:
    def test_create_sends_the_options(self, api: FakeApi) -> None:
        api.on("POST", f"/api/v1/projects/{PID}/collections", status=201, body=collection_json())
        result = run(
            "collections", "create", "--project", PID, "--name", "handbook",
            "--chunk-max-tokens", "128", "--chunk-overlap", "16",
            "--field", "team=string", "--field", "year=integer", "-o", "json",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert json_body(api.last()) == {
            "name": "handbook",
            "chunk_max_tokens": 128,
            "chunk_overlap": 16,
            "metadata_schema": {"team": "string", "year": "integer"},
        }
        assert json.loads(result.stdout)["name"] == "handbook"

    def test_create_rejects_a_malformed_field(self, api: FakeApi) -> None:
        result = run("collections", "create", "--project", PID, "--name", "x", "--field", "team")
        assert result.exit_code == 2
        assert "KEY=VALUE" in result.output
        assert api.requests == []

    def test_list_json_pages_through_the_project(self, api: FakeApi) -> None:
        path = f"/api/v1/projects/{PID}/collections"
        api.on("GET", path, body=page([collection_json(name="a")], "c1"))
        api.on("GET", path, body=page([collection_json(name="b")]))
        result = run("collections", "list", "--project", PID, "-o", "json")
        assert result.exit_code == 0, result.output
        assert [c["name"] for c in json.loads(result.stdout)] == ["a", "b"]

    def test_get_table_and_delete(self, api: FakeApi) -> None:
        api.on("GET", COLLECTION, body=collection_json(id=CID, name="handbook"))
        api.on("DELETE", COLLECTION, status=204)
        shown = run("collections", "get", CID)
        deleted = run("collections", "delete", CID, "--yes")
        assert shown.exit_code == 0 and "handbook" in shown.stdout
        assert deleted.exit_code == 0 and f"Deleted collection {CID}" in deleted.stderr


class TestDocsUpload:
    def test_several_files_one_request_each_with_progress(
        self, api: FakeApi, tmp_path: Path
    ) -> None:
        api.on("POST", DOCUMENTS, status=201, body=[uploaded_json(True, name="a.md")])
        api.on("POST", DOCUMENTS, status=201, body=[uploaded_json(False, name="b.txt")])
        meta = json.dumps({"a.md": {"team": "hr"}, "b.txt": {"team": "ops"}})

        result = run("docs", "upload", CID, *files(tmp_path, "a.md", "b.txt"), "--metadata", meta)

        assert result.exit_code == 0, result.output
        sent = [multipart_parts(r) for r in api.sent("POST", DOCUMENTS)]
        assert [[p.filename for p in parts if p.name == "files"] for parts in sent] == [
            ["a.md"],
            ["b.txt"],
        ]
        assert sent[0][1].content == b"content of a.md"
        metadata = [json.loads(next(p.content for p in s if p.name == "metadata")) for s in sent]
        assert metadata == [{"a.md": {"team": "hr"}}, {"b.txt": {"team": "ops"}}]
        assert "2/2" in result.stderr  # the progress bar, drawn once at the end off a terminal
        assert "1 stored, 1 unchanged" in result.stderr
        assert "a.md" in result.stdout and "b.txt" in result.stdout

    def test_one_object_applies_to_every_file_and_json_output(
        self, api: FakeApi, tmp_path: Path
    ) -> None:
        api.on("POST", DOCUMENTS, status=201, body=[uploaded_json(name="a.md")])
        result = run(
            "docs", "upload", CID, *files(tmp_path, "a.md"), "--metadata", '{"team": "hr"}',
            "-o", "json",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        meta = next(p for p in multipart_parts(api.last()) if p.name == "metadata")
        assert json.loads(meta.content) == {"a.md": {"team": "hr"}}
        (entry,) = json.loads(result.stdout)
        assert entry["created"] is True
        assert entry["document"]["metadata"] == {"team": "hr"}

    def test_too_large_stops_and_names_the_file(self, api: FakeApi, tmp_path: Path) -> None:
        api.on("POST", DOCUMENTS, status=201, body=[uploaded_json(name="a.md")])
        api.error(
            "POST", DOCUMENTS, status=413, code="payload_too_large",
            detail="request body larger than 1048576 bytes",
        )  # fmt: skip
        paths = files(tmp_path, "a.md", "big.pdf", "c.md")

        result = run("docs", "upload", CID, *paths)

        assert result.exit_code == 1
        assert "error: payload_too_large: big.pdf: request body larger" in result.stderr
        assert "1 of 3 files were uploaded" in result.stderr
        assert len(api.requests) == 2

    def test_validation_error_already_naming_the_file(self, api: FakeApi, tmp_path: Path) -> None:
        detail = "a.md: metadata field 'tier' is not in the collection schema"
        api.error("POST", DOCUMENTS, status=422, code="validation_error", detail=detail)
        result = run("docs", "upload", CID, *files(tmp_path, "a.md"), "--metadata", '{"tier": 1}')
        assert result.exit_code == 1
        assert result.stderr.strip() == f"error: validation_error: {detail}"

    @pytest.mark.parametrize(
        ("metadata", "message"), [("{not json", "not valid JSON"), ("[1]", "JSON object")]
    )
    def test_bad_metadata_is_a_usage_error(
        self, api: FakeApi, tmp_path: Path, metadata: str, message: str
    ) -> None:
        result = run("docs", "upload", CID, *files(tmp_path, "a.md"), "--metadata", metadata)
        assert result.exit_code == 2
        assert message in result.output
        assert api.requests == []

    def test_repeated_file_names_are_refused(self, api: FakeApi, tmp_path: Path) -> None:
        (tmp_path / "x").mkdir()
        paths = [*files(tmp_path, "a.md"), *files(tmp_path / "x", "a.md")]
        result = run("docs", "upload", CID, *paths)
        assert result.exit_code == 2
        assert "a.md" in result.output
        assert api.requests == []

    def test_missing_file_is_a_usage_error(self, api: FakeApi, tmp_path: Path) -> None:
        result = run("docs", "upload", CID, str(tmp_path / "nope.md"))
        assert result.exit_code == 2
        assert api.requests == []


class TestDocs:
    def test_list_get_delete(self, api: FakeApi) -> None:
        doc = document_json(name="a.md", status="ready", chunk_count=7)
        api.on("GET", DOCUMENTS, body=page([doc]))
        api.on("GET", f"/api/v1/documents/{doc['id']}", body=doc)
        api.on("DELETE", f"/api/v1/documents/{doc['id']}", status=204)

        listed = run("docs", "list", CID, "-o", "json")
        shown = run("docs", "get", doc["id"])
        deleted = run("docs", "delete", doc["id"], "--yes")

        assert listed.exit_code == 0, listed.output
        assert json.loads(listed.stdout) == [doc]
        assert "ready" in shown.stdout
        assert deleted.exit_code == 0


class TestSearch:
    def test_table_of_hits(self, api: FakeApi) -> None:
        hits = [
            hit_json(score=0.91234, document_name="leave.md", chunk_index=2, text="Leave " * 60),
            hit_json(score=0.5, document_name="[b]pay[/b].md", chunk_index=0, text="Pay\nday"),
        ]
        api.on("POST", f"{COLLECTION}/search", body=search_json(CID, hits))

        result = run("search", CID, "parental leave", "--top-k", "2", "--mode", "hybrid")

        assert result.exit_code == 0, result.output
        assert json_body(api.last()) == {"query": "parental leave", "top_k": 2, "mode": "hybrid"}
        out = result.stdout
        assert "0.9123" in out and "leave.md" in out and "[b]pay[/b].md" in out
        assert "Pay day" in out
        assert "…" in out  # the long text is cut to a snippet
        assert out.count("Leave") < 60

    def test_json_output_is_the_wire_answer(self, api: FakeApi) -> None:
        answer = search_json(CID, [hit_json()])
        api.on("POST", f"{COLLECTION}/search", body=answer)
        result = run("search", CID, "q", "-o", "json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == answer

    def test_filters_take_the_types_of_the_schema(self, api: FakeApi) -> None:
        api.on("GET", COLLECTION, body=collection_json(id=CID))
        api.on("POST", f"{COLLECTION}/search", body=search_json(CID, []))
        result = run(
            "search", CID, "q", "--filter", "team=hr", "--filter", "year=2024",
            "--filter", "draft=false",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert json_body(api.last())["filters"] == {"team": "hr", "year": 2024, "draft": False}
        assert "No hits." in result.stderr

    @pytest.mark.parametrize(
        ("given", "message"),
        [("tier=1", "not a metadata field"), ("year=soon", "year is a integer"), ("x", "KEY=")],
    )
    def test_bad_filters_are_usage_errors(self, api: FakeApi, given: str, message: str) -> None:
        api.on("GET", COLLECTION, body=collection_json(id=CID))
        result = run("search", CID, "q", "--filter", given)
        assert result.exit_code == 2
        assert message in result.output
        assert api.sent("POST", f"{COLLECTION}/search") == []


class TestRuns:
    def test_list_with_filters_get_logs_cancel(self, api: FakeApi) -> None:
        api.on("GET", "/api/v1/runs", body=page([run_json("failed", id=RID)]))
        api.on("GET", RUN, body=run_json("running", id=RID, progress=progress((1, 2), (5, 9))))
        api.on("GET", f"{RUN}/logs", body=logs_json(RID, "step 1\n\x1b]0;pwned\x07step 2\n"))
        api.on("POST", f"{RUN}/cancel", body=run_json("cancelling", id=RID))

        listed = run("runs", "list", "--kind", "ingest", "--status", "failed", "-o", "json")
        shown = run("runs", "get", RID)
        logs = run("runs", "logs", RID)
        cancelled = run("runs", "cancel", RID, "--yes", "-o", "json")

        assert listed.exit_code == 0, listed.output
        assert json.loads(listed.stdout)[0]["id"] == RID
        assert api.requests[0].url.params["kind"] == "ingest"
        assert api.requests[0].url.params["status"] == "failed"
        assert '"chunks_done":5' in shown.stdout
        assert "step 1" in logs.stdout and "step 2" in logs.stdout
        assert "\x1b" not in logs.stdout
        assert json.loads(cancelled.stdout)["status"] == "cancelling"

    def test_watch_succeeds_with_progress(self, api: FakeApi) -> None:
        run_progress(api, "succeeded")

        result = run("runs", "watch", RID, "--interval", "0")

        assert result.exit_code == 0, result.output
        err = result.stderr
        assert "queued" in err
        assert "documents 1/3, chunks 10/40" in err
        assert "documents 3/3, chunks 40/40" in err
        assert "succeeded" in err
        assert len(api.sent("GET", RUN)) == 4

    def test_watch_exits_1_on_failure_printing_the_error(self, api: FakeApi) -> None:
        run_progress(api, "failed", error="embedding service unreachable")
        result = run("runs", "watch", RID, "--interval", "0")
        assert result.exit_code == 1
        assert "chunks 10/40" in result.stderr
        assert f"error: run_failed: ingest run {RID} failed: embedding service unreachable" in (
            result.stderr
        )

    def test_watch_exits_1_when_cancelled(self, api: FakeApi) -> None:
        api.on("GET", RUN, body=run_json("cancelled", id=RID))
        result = run("runs", "watch", RID, "--interval", "0")
        assert result.exit_code == 1
        assert "error: run_cancelled:" in result.stderr

    def test_watch_json_prints_the_final_run_even_when_it_failed(self, api: FakeApi) -> None:
        api.on("GET", RUN, body=run_json("failed", id=RID, error="boom"))
        result = run("runs", "watch", RID, "--interval", "0", "-o", "json")
        assert result.exit_code == 1
        assert json.loads(result.stdout)["error"] == "boom"

    def test_watch_exits_1_when_the_run_outlasts_the_timeout(self, api: FakeApi) -> None:
        api.on("GET", RUN, body=run_json("running", id=RID))
        result = run("runs", "watch", RID, "--interval", "0", "--timeout", "0")
        assert result.exit_code == 1
        assert "error: timeout:" in result.stderr

    def test_watch_unknown_run(self, api: FakeApi) -> None:
        api.error("GET", RUN, status=404, code="not_found", detail="run not found")
        result = run("runs", "watch", RID, "--interval", "0")
        assert result.exit_code == 1
        assert "error: not_found: run not found" in result.stderr


class TestIngest:
    def test_without_wait_shows_the_run(self, api: FakeApi) -> None:
        api.on("POST", f"{COLLECTION}/ingest", status=202, body=run_json("queued", id=RID))
        result = run("ingest", CID, "-o", "json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["id"] == RID
        assert f"raylane runs watch {RID}" in result.stderr
        assert api.sent("GET", RUN) == []

    def test_wait_follows_the_run_to_success(self, api: FakeApi) -> None:
        api.on("POST", f"{COLLECTION}/ingest", status=202, body=run_json("queued", id=RID))
        run_progress(api, "succeeded")

        result = run("ingest", CID, "--wait", "--interval", "0")

        assert result.exit_code == 0, result.output
        assert f"Started ingest run {RID}" in result.stderr
        assert "documents 3/3, chunks 40/40" in result.stderr
        assert len(api.sent("GET", RUN)) == 4

    def test_wait_exits_1_when_the_run_fails(self, api: FakeApi) -> None:
        api.on("POST", f"{COLLECTION}/ingest", status=202, body=run_json("queued", id=RID))
        run_progress(api, "failed", error="parse error in a.pdf")
        result = run("ingest", CID, "--wait", "--interval", "0")
        assert result.exit_code == 1
        assert "parse error in a.pdf" in result.stderr

    def test_conflict_when_an_ingest_is_active(self, api: FakeApi) -> None:
        api.error(
            "POST", f"{COLLECTION}/ingest", status=409, code="conflict", detail="already running"
        )
        result = run("ingest", CID, "--wait")
        assert result.exit_code == 1
        assert result.stderr.strip() == "error: conflict: already running"
