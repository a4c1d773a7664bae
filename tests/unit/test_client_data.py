"""SDK unit tests for collections, documents, search and runs against a fake API."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from raylane.client import (
    AsyncClient,
    Client,
    Conflict,
    NotFound,
    PayloadTooLarge,
    RunFailed,
    ServiceUnavailable,
    ValidationError,
)
from raylane.client.resources import runs as runs_module
from raylane.schemas.runs import RunRead
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
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def client(api: FakeApi) -> Client:
    return Client(BASE_URL, API_KEY, transport=api.transport())


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every pause of ``runs.wait``, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr(runs_module.time, "sleep", slept.append)
    return slept


def files_on_disk(tmp_path: Path) -> list[Path]:
    (tmp_path / "intro.md").write_text("# Intro\n\nWelcome.")
    (tmp_path / "faq.txt").write_bytes(b"Q: leave?\nA: sixteen weeks.")
    return [tmp_path / "intro.md", tmp_path / "faq.txt"]


class TestCollections:
    def test_create_posts_only_given_fields_under_the_project(
        self, api: FakeApi, client: Client
    ) -> None:
        answer = collection_json(project_id=PID, name="handbook")
        api.on("POST", f"/api/v1/projects/{PID}/collections", status=201, body=answer)

        collection = client.collections.create(
            PID, name="handbook", chunk_max_tokens=128, metadata_schema={"team": "string"}
        )

        assert str(collection.id) == answer["id"]
        assert json_body(api.last()) == {
            "name": "handbook",
            "chunk_max_tokens": 128,
            "metadata_schema": {"team": "string"},
        }

    def test_create_is_validated_before_sending(self, api: FakeApi, client: Client) -> None:
        with pytest.raises(ValidationError) as caught:
            client.collections.create(PID, name="x", chunk_max_tokens=64, chunk_overlap=64)
        assert caught.value.status is None
        assert "chunk_overlap" in caught.value.message  # at most 63: below every chunk size
        assert api.requests == []

    def test_iter_pages_through_a_projects_collections(self, api: FakeApi, client: Client) -> None:
        path = f"/api/v1/projects/{PID}/collections"
        api.on("GET", path, body=page([collection_json(name="a")], "c1"))
        api.on("GET", path, body=page([collection_json(name="b")]))
        assert [c.name for c in client.collections.iter(PID, page_size=1)] == ["a", "b"]
        assert api.requests[1].url.params["cursor"] == "c1"

    def test_get_delete_and_ingest(self, api: FakeApi, client: Client) -> None:
        api.on("GET", COLLECTION, body=collection_json(id=CID))
        api.on("DELETE", COLLECTION, status=204)
        api.on("POST", f"{COLLECTION}/ingest", status=202, body=run_json("queued", id=RID))

        assert str(client.collections.get(CID).id) == CID
        assert client.collections.delete(CID) is None
        run = client.collections.ingest(CID)

        assert (str(run.id), run.status) == (RID, "queued")
        assert [r.method for r in api.requests] == ["GET", "DELETE", "POST"]

    def test_ingest_while_one_is_active_is_a_conflict(self, api: FakeApi, client: Client) -> None:
        api.error("POST", f"{COLLECTION}/ingest", status=409, code="conflict", detail="active")
        with pytest.raises(Conflict):
            client.collections.ingest(CID)

    def test_search_sends_the_request_body(self, api: FakeApi, client: Client) -> None:
        api.on("POST", f"{COLLECTION}/search", body=search_json(CID, [hit_json(score=0.9)]))

        results = client.collections.search(
            CID, "parental leave", top_k=3, filters={"team": "hr", "year": 2024}, mode="hybrid"
        )

        assert json_body(api.last()) == {
            "query": "parental leave",
            "top_k": 3,
            "filters": {"team": "hr", "year": 2024},
            "mode": "hybrid",
        }
        assert results.hits[0].score == 0.9

    def test_search_by_vector_leaves_the_query_out(self, api: FakeApi, client: Client) -> None:
        api.on("POST", f"{COLLECTION}/search", body=search_json(CID, []))
        client.collections.search(CID, vector=[0.1, 0.2])
        assert json_body(api.last()) == {"vector": [0.1, 0.2], "top_k": 5, "mode": "vector"}

    @pytest.mark.parametrize(
        "kwargs",
        [{}, {"query": "a", "vector": [1.0]}, {"vector": [1.0], "mode": "hybrid"}, {"top_k": 0}],
    )
    def test_search_arguments_are_checked_locally(
        self, api: FakeApi, client: Client, kwargs: dict[str, object]
    ) -> None:
        kwargs.setdefault("query", None)
        with pytest.raises(ValidationError):
            client.collections.search(CID, **kwargs)  # type: ignore[arg-type]
        assert api.requests == []


class TestUpload:
    def test_multipart_shape(self, api: FakeApi, client: Client, tmp_path: Path) -> None:
        api.on(
            "POST", DOCUMENTS, status=201, body=[uploaded_json(), uploaded_json(), uploaded_json()]
        )
        paths = files_on_disk(tmp_path)

        client.documents.upload(
            CID,
            [*paths, ("notes.html", b"<p>hi</p>", "text/html")],
            metadata={"team": "hr", "year": 2024},
        )

        request = api.last()
        assert request.headers["authorization"] == f"Bearer {API_KEY}"
        parts = multipart_parts(request)
        files = [p for p in parts if p.name == "files"]
        assert [p.filename for p in files] == ["intro.md", "faq.txt", "notes.html"]
        assert files[0].content == b"# Intro\n\nWelcome."
        assert files[1].content == b"Q: leave?\nA: sixteen weeks."
        assert files[2].content_type == "text/html"
        assert files[1].content_type == "text/plain"
        (meta,) = [p for p in parts if p.name == "metadata"]
        assert meta.filename is None
        assert json.loads(meta.content) == {"team": "hr", "year": 2024}
        assert [p.name for p in parts] == ["metadata", "files", "files", "files"]

    def test_without_metadata_there_is_no_metadata_part(self, api: FakeApi, client: Client) -> None:
        api.on("POST", DOCUMENTS, status=201, body=[uploaded_json()])
        client.documents.upload(CID, [("a.txt", b"alpha")])
        assert [(p.name, p.filename) for p in multipart_parts(api.last())] == [("files", "a.txt")]

    def test_a_single_path_and_per_file_metadata(
        self, api: FakeApi, client: Client, tmp_path: Path
    ) -> None:
        api.on("POST", DOCUMENTS, status=201, body=[uploaded_json()])
        path = files_on_disk(tmp_path)[0]
        client.documents.upload(CID, str(path), metadata={"intro.md": {"team": "hr"}})
        parts = multipart_parts(api.last())
        assert [p.filename for p in parts if p.name == "files"] == ["intro.md"]
        meta = next(p for p in parts if p.name == "metadata")
        assert json.loads(meta.content) == {"intro.md": {"team": "hr"}}

    def test_answer_is_parsed_with_document_metadata(self, api: FakeApi, client: Client) -> None:
        answer = [uploaded_json(True, name="a.txt", metadata={"team": "hr"}), uploaded_json(False)]
        api.on("POST", DOCUMENTS, status=201, body=answer)

        uploaded = client.documents.upload(CID, [("a.txt", b"alpha"), ("b.txt", b"beta")])

        assert [u.created for u in uploaded] == [True, False]
        assert uploaded[0].document.name == "a.txt"
        assert uploaded[0].document.metadata == {"team": "hr"}

    def test_payload_too_large_is_mapped(self, api: FakeApi, client: Client) -> None:
        detail = "big.pdf: 5000000 bytes is over the collection's limit of 1000000 bytes"
        api.error("POST", DOCUMENTS, status=413, code="payload_too_large", detail=detail)
        with pytest.raises(PayloadTooLarge) as caught:
            client.documents.upload(CID, [("big.pdf", b"%PDF-1.4 ...")])
        assert caught.value.status == 413
        assert caught.value.detail == detail

    def test_a_proxys_413_page_is_mapped_by_status(self, api: FakeApi, client: Client) -> None:
        api.on("POST", DOCUMENTS, status=413, text="<html>Request Entity Too Large</html>")
        with pytest.raises(PayloadTooLarge) as caught:
            client.documents.upload(CID, [("big.pdf", b"%PDF-1.4 ...")])
        assert caught.value.code == "payload_too_large"

    def test_validation_error_names_the_file(self, api: FakeApi, client: Client) -> None:
        detail = "empty.txt: file is empty"
        api.error("POST", DOCUMENTS, status=422, code="validation_error", detail=detail)
        with pytest.raises(ValidationError) as caught:
            client.documents.upload(CID, [("empty.txt", b" ")])
        assert caught.value.status == 422
        assert "empty.txt" in str(caught.value)

    @pytest.mark.parametrize(
        ("files", "message"),
        [
            ([], "at least one file"),
            ([("a.txt", b"1"), ("a.txt", b"2")], "named 'a.txt'"),
            ([("a.txt", "not bytes")], "not a file"),
            ([("", b"x")], "needs a name"),
            ([42], "int is not a file"),
        ],
    )
    def test_bad_file_lists_fail_before_sending(
        self, api: FakeApi, client: Client, files: list[object], message: str
    ) -> None:
        with pytest.raises(ValidationError) as caught:
            client.documents.upload(CID, files)  # type: ignore[arg-type]
        assert message in caught.value.message
        assert caught.value.status is None
        assert api.requests == []

    def test_metadata_must_be_json(self, api: FakeApi, client: Client) -> None:
        with pytest.raises(ValidationError, match="JSON-serializable"):
            client.documents.upload(CID, [("a.txt", b"1")], metadata={"when": object()})
        assert api.requests == []

    def test_a_missing_path_is_an_os_error(self, client: Client, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError):
            client.documents.upload(CID, [tmp_path / "missing.md"])


class TestDocuments:
    def test_add_texts_posts_a_document_batch(self, api: FakeApi, client: Client) -> None:
        api.on("POST", f"{DOCUMENTS}/text", status=201, body=[uploaded_json(name="note")])
        client.documents.add_texts(CID, [{"name": "note", "text": "hello", "metadata": {"a": 1}}])
        assert json_body(api.last()) == {
            "documents": [{"name": "note", "text": "hello", "metadata": {"a": 1}}]
        }

    def test_list_get_and_delete(self, api: FakeApi, client: Client) -> None:
        doc = document_json(metadata={"team": "ops"})
        api.on("GET", DOCUMENTS, body=page([doc]))
        api.on("GET", f"/api/v1/documents/{doc['id']}", body=doc)
        api.on("DELETE", f"/api/v1/documents/{doc['id']}", status=204)

        listed = client.documents.list(CID, limit=10)
        got = client.documents.get(doc["id"])
        client.documents.delete(doc["id"])

        assert listed.items[0].metadata == {"team": "ops"}
        assert got.metadata == {"team": "ops"}
        assert api.requests[0].url.params["limit"] == "10"

    def test_missing_document(self, api: FakeApi, client: Client) -> None:
        api.error("GET", "/api/v1/documents/d1", status=404, code="not_found")
        with pytest.raises(NotFound):
            client.documents.get("d1")


class TestRuns:
    def test_list_filters_logs_and_cancel(self, api: FakeApi, client: Client) -> None:
        api.on("GET", "/api/v1/runs", body=page([run_json()]))
        api.on("GET", f"{RUN}/logs", body=logs_json(RID, "line 1\n"))
        api.on("POST", f"{RUN}/cancel", body=run_json("cancelling", id=RID))

        client.runs.list(kind="ingest", status="running", project_id=PID)
        logs = client.runs.logs(RID)
        cancelled = client.runs.cancel(RID)

        assert dict(api.requests[0].url.params) == {
            "kind": "ingest",
            "status": "running",
            "project_id": PID,
        }
        assert logs.logs == "line 1\n"
        assert cancelled.status == "cancelling"

    def test_wait_follows_progress_to_success(
        self, api: FakeApi, client: Client, sleeps: list[float]
    ) -> None:
        answers = [
            run_json("queued", id=RID),
            run_json("running", id=RID, progress=progress((1, 3), (10, 40))),
            run_json("running", id=RID, progress=progress((3, 3), (40, 40))),
            run_json("succeeded", id=RID, progress=progress((3, 3), (40, 40))),
        ]
        for answer in answers:
            api.on("GET", RUN, body=answer)
        seen: list[RunRead] = []

        run = client.runs.wait(RID, poll=0, on_progress=seen.append)

        assert run.status == "succeeded"
        assert [r.status for r in seen] == ["queued", "running", "running", "succeeded"]
        assert [r.progress.get("chunks_done") for r in seen] == [None, 10, 40, 40]
        assert sleeps == [0, 0, 0]
        assert len(api.requests) == 4

    @pytest.mark.parametrize("status", ["failed", "cancelled"])
    def test_wait_raises_run_failed_carrying_the_run(
        self, api: FakeApi, client: Client, sleeps: list[float], status: str
    ) -> None:
        api.on("GET", RUN, body=run_json("running", id=RID))
        error = "embedding service unreachable" if status == "failed" else None
        api.on("GET", RUN, body=run_json(status, id=RID, error=error))

        with pytest.raises(RunFailed) as caught:
            client.runs.wait(RID, poll=0)

        assert caught.value.run.status == status
        assert caught.value.code == f"run_{status}"
        assert caught.value.status is None
        if error:
            assert error in str(caught.value)

    def test_wait_times_out(self, api: FakeApi, client: Client, sleeps: list[float]) -> None:
        api.on("GET", RUN, body=run_json("running", id=RID))
        with pytest.raises(TimeoutError, match="still running"):
            client.runs.wait(RID, timeout=0, poll=0)
        assert len(api.requests) == 1

    def test_wait_rides_out_a_brief_outage(
        self, api: FakeApi, client: Client, sleeps: list[float]
    ) -> None:
        api.error("GET", RUN, status=503, code="service_unavailable")
        api.on("GET", RUN, body=run_json("succeeded", id=RID))
        assert client.runs.wait(RID, poll=0).status == "succeeded"

    def test_wait_gives_up_after_repeated_failures(
        self, api: FakeApi, client: Client, sleeps: list[float]
    ) -> None:
        api.error("GET", RUN, status=503, code="service_unavailable")
        from raylane.client.resources.runs import WAIT_RETRIES

        with pytest.raises(ServiceUnavailable):
            client.runs.wait(RID, poll=0)
        assert len(api.requests) == WAIT_RETRIES + 1

    def test_wait_does_not_retry_not_found(
        self, api: FakeApi, client: Client, sleeps: list[float]
    ) -> None:
        api.error("GET", RUN, status=404, code="not_found")
        with pytest.raises(NotFound):
            client.runs.wait(RID, poll=0)
        assert len(api.requests) == 1

    def test_wait_rejects_a_negative_poll(self, client: Client) -> None:
        with pytest.raises(ValueError, match="poll"):
            client.runs.wait(RID, poll=-1)


class TestAsync:
    async def test_async_upload_search_and_wait(self, api: FakeApi) -> None:
        api.on("POST", DOCUMENTS, status=201, body=[uploaded_json(name="a.txt")])
        api.on("POST", f"{COLLECTION}/search", body=search_json(CID, [hit_json()]))
        api.on("GET", RUN, body=run_json("running", id=RID, progress=progress((0, 1), (0, 4))))
        api.on("GET", RUN, body=run_json("succeeded", id=RID, progress=progress((1, 1), (4, 4))))
        seen: list[str] = []

        async def record(run: RunRead) -> None:
            seen.append(run.status)

        async with AsyncClient(BASE_URL, API_KEY, transport=api.transport()) as client:
            uploaded = await client.documents.upload(CID, [("a.txt", b"alpha")], metadata={})
            results = await client.collections.search(CID, "alpha", top_k=1)
            run = await client.runs.wait(RID, poll=0, on_progress=record)

        parts = multipart_parts(api.requests[0])
        assert [(p.name, p.filename) for p in parts] == [("metadata", None), ("files", "a.txt")]
        assert uploaded[0].document.name == "a.txt"
        assert json_body(api.requests[1])["top_k"] == 1
        assert results.hits
        assert (run.status, seen) == ("succeeded", ["running", "succeeded"])

    async def test_async_wait_raises_run_failed(self, api: FakeApi) -> None:
        api.on("GET", RUN, body=run_json("failed", id=RID, error="boom"))
        async with AsyncClient(BASE_URL, API_KEY, transport=api.transport()) as client:
            with pytest.raises(RunFailed, match="boom"):
                await client.runs.wait(RID, poll=0)

    async def test_async_upload_errors_are_mapped(self, api: FakeApi) -> None:
        api.error("POST", DOCUMENTS, status=413, code="payload_too_large", detail="too big")
        async with AsyncClient(BASE_URL, API_KEY, transport=api.transport()) as client:
            with pytest.raises(PayloadTooLarge):
                await client.documents.upload(CID, [("a.txt", b"alpha")])

    def test_async_methods_carry_the_sync_docstrings(self) -> None:
        for group, name in [("collections", "search"), ("documents", "upload"), ("runs", "wait")]:
            sync_doc = getattr(getattr(Client("http://x"), group), name).__doc__
            async_doc = getattr(getattr(AsyncClient("http://x"), group), name).__doc__
            assert sync_doc == async_doc
            assert "Raises:" in (sync_doc or "")


def test_upload_request_is_multipart_not_json(api: FakeApi, client: Client) -> None:
    api.on("POST", DOCUMENTS, status=201, body=[uploaded_json()])
    client.documents.upload(CID, [("a.txt", b"alpha")])
    request: httpx.Request = api.last()
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert b'name="files"; filename="a.txt"' in request.content
