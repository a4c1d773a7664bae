"""Collections, documents and runs over HTTP on real Postgres, Redis and the default file store.

Every refusal is checked against the database, the object store and the audit log: bad input
gets a clear 4xx and leaves all three exactly as they were.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import pytest

from tests.factories import Api, Tenant

DIMS = 384  # the default model's width (all-MiniLM-L6-v2)


@pytest.fixture(scope="module")
def objects_root(services) -> Path:  # type: ignore[no-untyped-def]
    url = urlsplit(services.storage_url)
    assert url.scheme == "file", "these tests expect the default file store"
    return Path(unquote(url.path))


@dataclass(frozen=True)
class Snapshot:
    documents: int
    chunks: int
    objects: frozenset[str]
    audit_events: int


def snapshot(conn: psycopg.Connection, root: Path, tenant: Tenant) -> Snapshot:
    org = tenant.organization_id

    def count(table: str) -> int:
        row = conn.execute(
            f"SELECT count(*) FROM {table} WHERE organization_id = %s",
            (org,),
        ).fetchone()
        assert row is not None
        return int(row[0])

    base = root / org
    files = (
        frozenset(str(p.relative_to(root)) for p in base.rglob("*") if p.is_file())
        if base.exists()
        else frozenset()
    )
    return Snapshot(count("documents"), count("chunks"), files, count("audit_events"))


def object_path(root: Path, tenant: Tenant, collection_id: str, data: bytes) -> Path:
    return root / tenant.organization_id / collection_id / hashlib.sha256(data).hexdigest()


async def new_project(api: Api, tenant: Tenant) -> str:
    r = await api.as_(tenant).post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex[:8]}"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def new_collection(api: Api, tenant: Tenant, **settings: Any) -> dict[str, Any]:
    project_id = await new_project(api, tenant)
    body = {"name": f"c-{uuid.uuid4().hex[:8]}", **settings}
    r = await api.as_(tenant).post(f"/api/v1/projects/{project_id}/collections", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def upload(
    api: Api,
    tenant: Tenant,
    collection_id: str,
    files: list[tuple[str, bytes, str]],
    *,
    metadata: str | None = None,
) -> Any:
    return await api.as_(tenant).post(
        f"/api/v1/collections/{collection_id}/documents",
        files=[("files", f) for f in files],
        data={"metadata": metadata} if metadata is not None else None,
    )


def insert_chunk(conn: psycopg.Connection, document: dict[str, Any], tenant: Tenant) -> str:
    """A chunk row written past the API (as the ingest job would), to prove cascades."""
    chunk_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO chunks (id, organization_id, collection_id, document_id, chunk_index, "
        "content_hash, model, text, token_count, dimensions, embedding) "
        "VALUES (%s, %s, %s, %s, 0, %s, 'all-MiniLM-L6-v2', 'some words', 2, %s, %s)",
        (
            chunk_id,
            tenant.organization_id,
            document["collection_id"],
            document["id"],
            document["content_hash"],
            DIMS,
            str([0.01] * DIMS),
        ),
    )
    return chunk_id


def chunk_exists(conn: psycopg.Connection, chunk_id: str) -> bool:
    return conn.execute("SELECT 1 FROM chunks WHERE id = %s", (chunk_id,)).fetchone() is not None


async def audit_actions(api: Api, tenant: Tenant, target_id: str) -> list[str]:
    r = await api.as_(tenant).get("/api/v1/audit/events", params={"target_id": target_id})
    assert r.status_code == 200, r.text
    return [e["action"] for e in r.json()["items"]]


class TestUpload:
    async def test_multipart_and_text_uploads_store_documents_and_objects(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection, objects_root: Path
    ) -> None:
        col = await new_collection(api, org_a, metadata_schema={"lang": "string"})
        before = snapshot(owner_conn, objects_root, org_a)
        files = [
            ("a.txt", b"alpha text about tenants", "text/plain"),
            ("b.md", b"# Beta\n\nsome markdown words", "text/markdown"),
        ]
        r = await upload(api, org_a, col["id"], files, metadata='{"lang": "en"}')
        assert r.status_code == 201, r.text
        uploaded = r.json()
        assert [u["created"] for u in uploaded] == [True, True]
        for (name, data, mime), u in zip(files, uploaded, strict=True):
            doc = u["document"]
            assert doc["name"] == name and doc["mime"] == mime and doc["size"] == len(data)
            assert doc["content_hash"] == hashlib.sha256(data).hexdigest()
            assert doc["status"] == "pending" and doc["metadata"] == {"lang": "en"}
            assert object_path(objects_root, org_a, col["id"], data).read_bytes() == data

        r = await api.as_(org_a).post(
            f"/api/v1/collections/{col['id']}/documents/text",
            json={"documents": [{"name": "c.txt", "text": "gamma", "metadata": {"lang": "fr"}}]},
        )
        assert r.status_code == 201, r.text
        [text_doc] = r.json()
        assert text_doc["created"] is True
        assert text_doc["document"]["content_hash"] == hashlib.sha256(b"gamma").hexdigest()
        assert text_doc["document"]["metadata"] == {"lang": "fr"}

        after = snapshot(owner_conn, objects_root, org_a)
        assert after.documents == before.documents + 3
        assert len(after.objects - before.objects) == 3
        assert after.audit_events == before.audit_events + 3
        listed = (await api.as_(org_a).get(f"/api/v1/collections/{col['id']}/documents")).json()
        assert sorted(d["name"] for d in listed["items"]) == ["a.txt", "b.md", "c.txt"]
        assert await audit_actions(api, org_a, text_doc["document"]["id"]) == ["document.create"]

    async def test_identical_reupload_returns_the_same_document_and_stores_nothing(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection, objects_root: Path
    ) -> None:
        col = await new_collection(api, org_a)
        data = b"the same words, twice"
        first = await upload(api, org_a, col["id"], [("same.txt", data, "text/plain")])
        assert first.status_code == 201 and first.json()[0]["created"] is True
        doc_id = first.json()[0]["document"]["id"]
        before = snapshot(owner_conn, objects_root, org_a)

        again = await upload(api, org_a, col["id"], [("same.txt", data, "text/plain")])
        assert again.status_code == 201, again.text
        assert again.json()[0]["created"] is False
        assert again.json()[0]["document"]["id"] == doc_id
        as_text = await api.as_(org_a).post(
            f"/api/v1/collections/{col['id']}/documents/text",
            json={"documents": [{"name": "same.txt", "text": data.decode()}]},
        )
        assert as_text.status_code == 201, as_text.text
        assert as_text.json()[0]["created"] is False
        assert as_text.json()[0]["document"]["id"] == doc_id

        assert snapshot(owner_conn, objects_root, org_a) == before

    async def test_same_name_with_new_content_replaces_the_document(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection, objects_root: Path
    ) -> None:
        col = await new_collection(api, org_a)
        v1, v2 = b"version one of the guide", b"version two of the guide, longer"
        r = await upload(api, org_a, col["id"], [("guide.txt", v1, "text/plain")])
        doc = r.json()[0]["document"]
        # As if an ingest had embedded v1 (and a previous attempt had left an error).
        owner_conn.execute(
            "UPDATE documents SET status = 'ingested', embedded_hash = content_hash, "
            "chunk_count = 1, error = 'old' WHERE id = %s",
            (doc["id"],),
        )
        old_object = object_path(objects_root, org_a, col["id"], v1)
        assert old_object.exists()
        before = snapshot(owner_conn, objects_root, org_a)

        r = await upload(api, org_a, col["id"], [("guide.txt", v2, "text/plain")])
        assert r.status_code == 201, r.text
        replaced = r.json()[0]["document"]
        assert replaced["id"] == doc["id"]
        assert replaced["content_hash"] == hashlib.sha256(v2).hexdigest() != doc["content_hash"]
        assert replaced["status"] == "pending" and replaced["error"] is None
        assert replaced["size"] == len(v2)
        assert not old_object.exists()
        assert object_path(objects_root, org_a, col["id"], v2).read_bytes() == v2

        after = snapshot(owner_conn, objects_root, org_a)
        assert after.documents == before.documents
        assert len(after.objects) == len(before.objects)
        assert (await audit_actions(api, org_a, doc["id"]))[0] == "document.replace"

    async def test_other_tenant_cannot_upload_read_or_list(
        self,
        api: Api,
        org_a: Tenant,
        org_b: Tenant,
        owner_conn: psycopg.Connection,
        objects_root: Path,
    ) -> None:
        col = await new_collection(api, org_a)
        r = await upload(api, org_a, col["id"], [("mine.txt", b"private words", "text/plain")])
        doc_id = r.json()[0]["document"]["id"]
        before_b = snapshot(owner_conn, objects_root, org_b)
        r = await upload(api, org_b, col["id"], [("theirs.txt", b"intrusion", "text/plain")])
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        assert (await api.as_(org_b).get(f"/api/v1/documents/{doc_id}")).status_code == 404
        r = await api.as_(org_b).get(f"/api/v1/collections/{col['id']}/documents")
        assert r.status_code == 404
        assert snapshot(owner_conn, objects_root, org_b) == before_b


BINARY = random.Random(7).randbytes(400) + b"\x00\x00" + random.Random(8).randbytes(100)
GOOD = [
    ("one.txt", b"first good file", "text/plain"),
    ("two.md", b"# Two\n\ntext", "text/markdown"),
]

# (id, files, metadata form field, status, strings the detail must contain)
BAD_UPLOADS: list[tuple[str, list[tuple[str, bytes, str]], str | None, int, list[str]]] = [
    ("empty", [("empty.txt", b"", "text/plain")], None, 422, ["empty.txt", "empty"]),
    ("binary-garbage", [("x.txt", BINARY, "text/plain")], None, 422, ["x.txt", "binary"]),
    (
        "invalid-utf8",
        [("latin.txt", b"caf\xe9 au lait, na\xefve", "text/plain")],
        None,
        422,
        ["latin.txt", "UTF-8"],
    ),
    (
        "not-a-pdf",
        [("report.pdf", b"this is plain text wearing a pdf name", "application/pdf")],
        None,
        422,
        ["report.pdf", "PDF"],
    ),
    (
        "jsonl-bad-line",
        [("rows.jsonl", b'{"text": "one"}\n{"text": "two"\n{"text": "three"}\n', "text/plain")],
        None,
        422,
        ["rows.jsonl", "line 2"],
    ),
    ("too-large", [("big.txt", b"a" * 1001, "text/plain")], None, 413, ["big.txt", "1000"]),
    (
        "too-many-files",
        [*GOOD, ("three.txt", b"third", "text/plain"), ("four.txt", b"fourth", "text/plain")],
        None,
        422,
        ["at most 4"],
    ),
    ("metadata-unknown-field", GOOD[:1], '{"color": "red"}', 422, ["one.txt", "color"]),
    ("metadata-wrong-type", GOOD[:1], '{"year": "2020"}', 422, ["one.txt", "year", "integer"]),
    ("metadata-bool-for-int", GOOD[:1], '{"year": true}', 422, ["one.txt", "year"]),
    (
        "metadata-per-file-wrong-type",
        GOOD,
        '{"one.txt": {"lang": "en"}, "two.md": {"lang": 7}}',
        422,
        ["two.md", "lang"],
    ),
    ("metadata-malformed-json", GOOD[:1], '{"lang": ', 422, ["metadata", "JSON"]),
    ("metadata-not-an-object", GOOD[:1], '["en"]', 422, ["metadata"]),
    (
        "third-of-three-bad",
        [*GOOD, ("bad3.txt", b"ok start\x00then binary", "text/plain")],
        None,
        422,
        ["bad3.txt"],
    ),
    (
        "duplicate-names",
        [("dup.txt", b"one", "text/plain"), ("dup.txt", b"two", "text/plain")],
        None,
        422,
        ["same name"],
    ),
]


class TestBadUploadsWriteNothing:
    @pytest.fixture
    async def collection(self, api: Api, org_a: Tenant) -> dict[str, Any]:
        """A small collection already holding one document (so at most 3 more fit)."""
        col = await new_collection(
            api,
            org_a,
            max_document_bytes=1000,
            max_documents=4,
            metadata_schema={"lang": "string", "year": "integer"},
        )
        r = await upload(api, org_a, col["id"], [("seed.txt", b"already here", "text/plain")])
        assert r.status_code == 201, r.text
        return col

    @pytest.mark.parametrize(
        ("files", "metadata", "status", "needles"),
        [case[1:] for case in BAD_UPLOADS],
        ids=[case[0] for case in BAD_UPLOADS],
    )
    async def test_multipart_refused_with_no_trace(
        self,
        api: Api,
        org_a: Tenant,
        owner_conn: psycopg.Connection,
        objects_root: Path,
        collection: dict[str, Any],
        files: list[tuple[str, bytes, str]],
        metadata: str | None,
        status: int,
        needles: list[str],
    ) -> None:
        before = snapshot(owner_conn, objects_root, org_a)
        r = await upload(api, org_a, collection["id"], files, metadata=metadata)
        assert r.status_code == status, r.text
        body = r.json()
        assert body["error"] == ("payload_too_large" if status == 413 else "validation_error")
        for needle in needles:
            assert needle in body["detail"], (needle, body["detail"])
        assert snapshot(owner_conn, objects_root, org_a) == before

    @pytest.mark.parametrize(
        ("documents", "needles"),
        [
            # NUL is refused before the route runs; the error's loc names the document and field.
            ([{"name": "nul.txt", "text": "text with a \x00 in it"}], ["documents", "text"]),
            ([{"name": "m.txt", "text": "words", "metadata": {"year": 1.5}}], ["m.txt", "year"]),
            ([{"name": "m.txt", "text": "words", "metadata": {"tag": "x"}}], ["m.txt", "tag"]),
            ([{"name": "big.txt", "text": "b" * 1001}], ["big.txt"]),
            (
                [
                    {"name": "ok1.txt", "text": "fine"},
                    {"name": "ok2.txt", "text": "also fine"},
                    {
                        "name": "bad.jsonl",
                        "text": '{"text": "a"}\nnot json',
                        "mime": "application/jsonl",
                    },
                ],
                ["bad.jsonl", "line 2"],
            ),
        ],
        ids=["nul", "float-for-int", "unknown-field", "too-large", "third-of-three-bad"],
    )
    async def test_text_route_refused_with_no_trace(
        self,
        api: Api,
        org_a: Tenant,
        owner_conn: psycopg.Connection,
        objects_root: Path,
        collection: dict[str, Any],
        documents: list[dict[str, Any]],
        needles: list[str],
    ) -> None:
        before = snapshot(owner_conn, objects_root, org_a)
        r = await api.as_(org_a).post(
            f"/api/v1/collections/{collection['id']}/documents/text",
            json={"documents": documents},
        )
        assert r.status_code in (413, 422), r.text
        for needle in needles:
            assert needle in str(r.json()["detail"]), (needle, r.json()["detail"])
        assert snapshot(owner_conn, objects_root, org_a) == before

    @pytest.mark.parametrize(
        ("route", "payload"),
        [
            ("files", [("n" * 600 + ".txt", b"words", "text/plain")]),
            ("files", [("t.txt", b"words", "text/" + "x" * 150)]),
            ("text", [{"name": "a\x00b.txt", "text": "words"}]),
            ("text", [{"name": "m.txt", "text": "words", "metadata": {"lang": "a\x00b"}}]),
        ],
        ids=["name-too-long", "mime-too-long", "nul-in-name", "nul-in-metadata"],
    )
    async def test_unstorable_fields_are_refused_with_no_trace(
        self,
        api: Api,
        org_a: Tenant,
        owner_conn: psycopg.Connection,
        objects_root: Path,
        collection: dict[str, Any],
        route: str,
        payload: list[Any],
    ) -> None:
        before = snapshot(owner_conn, objects_root, org_a)
        if route == "files":
            r = await upload(api, org_a, collection["id"], payload)
        else:
            r = await api.as_(org_a).post(
                f"/api/v1/collections/{collection['id']}/documents/text",
                json={"documents": payload},
            )
        assert snapshot(owner_conn, objects_root, org_a) == before
        assert r.status_code == 422, r.text

    async def test_a_file_of_exactly_the_limit_is_accepted(
        self, api: Api, org_a: Tenant, collection: dict[str, Any]
    ) -> None:
        r = await upload(api, org_a, collection["id"], [("edge.txt", b"e" * 1000, "text/plain")])
        assert r.status_code == 201, r.text

    async def test_reupload_into_a_full_collection_is_still_a_noop(
        self, api: Api, org_a: Tenant, collection: dict[str, Any]
    ) -> None:
        files = [(f"f{i}.txt", f"fill {i}".encode(), "text/plain") for i in range(3)]
        assert (await upload(api, org_a, collection["id"], files)).status_code == 201
        r = await upload(api, org_a, collection["id"], files[:1])  # identical: stores nothing
        assert r.status_code == 201, r.text
        assert r.json()[0]["created"] is False


class TestDelete:
    async def test_delete_document_removes_row_object_and_chunks(
        self,
        api: Api,
        org_a: Tenant,
        org_b: Tenant,
        owner_conn: psycopg.Connection,
        objects_root: Path,
    ) -> None:
        col = await new_collection(api, org_a)
        data = b"soon to be deleted"
        r = await upload(
            api,
            org_a,
            col["id"],
            [("gone.txt", data, "text/plain"), ("kept.txt", b"stays", "text/plain")],
        )
        doc, kept = (u["document"] for u in r.json())
        chunk = insert_chunk(owner_conn, doc, org_a)
        kept_chunk = insert_chunk(owner_conn, kept, org_a)
        path = object_path(objects_root, org_a, col["id"], data)

        assert (await api.as_(org_b).delete(f"/api/v1/documents/{doc['id']}")).status_code == 404
        assert path.exists() and chunk_exists(owner_conn, chunk)

        r = await api.as_(org_a).delete(f"/api/v1/documents/{doc['id']}")
        assert r.status_code == 204, r.text
        assert (await api.as_(org_a).get(f"/api/v1/documents/{doc['id']}")).status_code == 404
        assert not path.exists()
        assert not chunk_exists(owner_conn, chunk)
        assert chunk_exists(owner_conn, kept_chunk)
        assert object_path(objects_root, org_a, col["id"], b"stays").exists()
        assert (await audit_actions(api, org_a, doc["id"]))[0] == "document.delete"
        assert (await api.as_(org_a).delete(f"/api/v1/documents/{doc['id']}")).status_code == 404

    async def test_delete_collection_removes_documents_objects_and_chunks(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection, objects_root: Path
    ) -> None:
        col = await new_collection(api, org_a)
        other = await new_collection(api, org_a)
        files = [("1.txt", b"first", "text/plain"), ("2.txt", b"second", "text/plain")]
        docs = [u["document"] for u in (await upload(api, org_a, col["id"], files)).json()]
        survivor = (await upload(api, org_a, other["id"], files[:1])).json()[0]["document"]
        chunks = [insert_chunk(owner_conn, d, org_a) for d in docs]
        survivor_chunk = insert_chunk(owner_conn, survivor, org_a)
        assert (objects_root / org_a.organization_id / col["id"]).is_dir()

        r = await api.as_(org_a).delete(f"/api/v1/collections/{col['id']}")
        assert r.status_code == 204, r.text
        assert (await api.as_(org_a).get(f"/api/v1/collections/{col['id']}")).status_code == 404
        remaining = owner_conn.execute(
            "SELECT count(*) FROM documents WHERE collection_id = %s", (col["id"],)
        ).fetchone()
        assert remaining == (0,)
        assert not any(chunk_exists(owner_conn, c) for c in chunks)
        col_dir = objects_root / org_a.organization_id / col["id"]
        leftovers = [p for p in col_dir.rglob("*") if p.is_file()] if col_dir.exists() else []
        assert leftovers == []
        # The neighbouring collection is untouched.
        assert chunk_exists(owner_conn, survivor_chunk)
        assert object_path(objects_root, org_a, other["id"], b"first").exists()
        assert (await audit_actions(api, org_a, col["id"]))[0] == "collection.delete"


class TestCreateCollection:
    async def _create(self, api: Api, tenant: Tenant, project_id: str, **body: Any) -> Any:
        return await api.as_(tenant).post(
            f"/api/v1/projects/{project_id}/collections",
            json={"name": f"c-{uuid.uuid4().hex[:8]}", **body},
        )

    async def test_defaults_and_the_size_limit_is_capped_by_the_platform(
        self, api: Api, org_a: Tenant, services: Any
    ) -> None:
        project_id = await new_project(api, org_a)
        r = await self._create(api, org_a, project_id, max_document_bytes=10**15)
        assert r.status_code == 201, r.text
        col = r.json()
        assert col["embedding_model"] == services.embeddings.default_model
        assert col["dimensions"] == DIMS
        assert col["max_document_bytes"] == services.documents.max_document_bytes
        assert col["chunk_overlap"] < col["chunk_max_tokens"]

    @pytest.mark.parametrize(
        ("body", "needle"),
        [
            ({"embedding_model": "no-such-model"}, "no-such-model"),
            ({"embedding_model": "../../etc"}, "unknown embedding model"),
            ({"chunk_max_tokens": 64, "chunk_overlap": 64}, "chunk_overlap"),
            ({"chunk_max_tokens": 64, "chunk_overlap": 100}, "chunk_overlap"),
            # Only the overlap given: checked against the platform default size (200).
            ({"chunk_overlap": 200}, "chunk_overlap"),
        ],
        ids=["unknown-model", "model-path", "overlap-equal", "overlap-above", "overlap-vs-default"],
    )
    async def test_invalid_settings_are_422_and_write_nothing(
        self,
        api: Api,
        org_a: Tenant,
        owner_conn: psycopg.Connection,
        body: dict[str, Any],
        needle: str,
    ) -> None:
        project_id = await new_project(api, org_a)
        audit_before = (
            await api.as_(org_a).get("/api/v1/audit/events", params={"limit": 200})
        ).json()["items"]
        r = await self._create(api, org_a, project_id, **body)
        assert r.status_code == 422, r.text
        assert needle in json.dumps(r.json()["detail"])
        listed = (await api.as_(org_a).get(f"/api/v1/projects/{project_id}/collections")).json()
        assert listed["items"] == []
        audit_after = (
            await api.as_(org_a).get("/api/v1/audit/events", params={"limit": 200})
        ).json()["items"]
        assert len(audit_after) == len(audit_before)

    async def test_duplicate_name_in_a_project_is_409(self, api: Api, org_a: Tenant) -> None:
        project_id = await new_project(api, org_a)
        assert (await self._create(api, org_a, project_id, name="kb")).status_code == 201
        r = await self._create(api, org_a, project_id, name="kb")
        assert r.status_code == 409 and r.json()["error"] == "conflict"
        # The same name in another project is fine.
        other = await new_project(api, org_a)
        assert (await self._create(api, org_a, other, name="kb")).status_code == 201
        listed = (await api.as_(org_a).get(f"/api/v1/projects/{project_id}/collections")).json()
        assert [c["name"] for c in listed["items"]] == ["kb"]

    async def test_another_tenants_project_is_404(
        self, api: Api, org_a: Tenant, org_b: Tenant
    ) -> None:
        project_id = await new_project(api, org_a)
        r = await self._create(api, org_b, project_id)
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        r = await api.as_(org_b).get(f"/api/v1/projects/{project_id}/collections")
        assert r.status_code == 404
        r = await self._create(api, org_a, str(uuid.uuid4()))
        assert r.status_code == 404
        listed = (await api.as_(org_a).get(f"/api/v1/projects/{project_id}/collections")).json()
        assert listed["items"] == []


class TestRuns:
    async def _ingest(self, api: Api, tenant: Tenant, collection_id: str) -> Any:
        return await api.as_(tenant).post(f"/api/v1/collections/{collection_id}/ingest")

    async def test_ingest_queues_a_run_and_only_one_may_be_active(
        self, api: Api, org_a: Tenant
    ) -> None:
        col = await new_collection(api, org_a)
        r = await self._ingest(api, org_a, col["id"])
        assert r.status_code == 202, r.text
        run = r.json()
        assert run["kind"] == "ingest" and run["status"] == "queued"
        assert run["target_id"] == col["id"] and run["project_id"] == col["project_id"]
        assert run["attempts"] == 0 and run["ray_job_id"] is None and run["finished_at"] is None
        got = await api.as_(org_a).get(f"/api/v1/runs/{run['id']}")
        assert got.status_code == 200 and got.json()["id"] == run["id"]
        assert got.json()["status"] == "queued"
        assert await audit_actions(api, org_a, run["id"]) == ["run.ingest.create"]

        second = await self._ingest(api, org_a, col["id"])
        assert second.status_code == 409 and second.json()["error"] == "conflict"
        assert run["id"] in second.json()["detail"]

        logs = await api.as_(org_a).get(f"/api/v1/runs/{run['id']}/logs")
        assert logs.status_code == 200
        assert logs.json() == {
            "run_id": run["id"],
            "ray_job_id": None,
            "logs": "",
            "status": "queued",
            "offset": 0,
            "next_offset": 0,
        }

    async def test_cancel_of_a_queued_run_is_immediate_and_frees_the_target(
        self, api: Api, org_a: Tenant
    ) -> None:
        col = await new_collection(api, org_a)
        run = (await self._ingest(api, org_a, col["id"])).json()
        r = await api.as_(org_a).post(f"/api/v1/runs/{run['id']}/cancel")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled" and r.json()["finished_at"] is not None
        assert (await api.as_(org_a).get(f"/api/v1/runs/{run['id']}")).json()[
            "status"
        ] == "cancelled"
        # Cancelling a finished run changes nothing and audits nothing more.
        again = await api.as_(org_a).post(f"/api/v1/runs/{run['id']}/cancel")
        assert again.status_code == 200
        assert again.json()["finished_at"] == r.json()["finished_at"]
        assert await audit_actions(api, org_a, run["id"]) == ["run.cancel", "run.ingest.create"]
        # No active run any more: a new ingest is accepted.
        assert (await self._ingest(api, org_a, col["id"])).status_code == 202

    async def test_list_filters_by_kind_status_and_project(self, api: Api, org_a: Tenant) -> None:
        first, second = await new_collection(api, org_a), await new_collection(api, org_a)
        cancelled = (await self._ingest(api, org_a, first["id"])).json()
        queued = (await self._ingest(api, org_a, second["id"])).json()
        await api.as_(org_a).post(f"/api/v1/runs/{cancelled['id']}/cancel")

        async def ids(**params: Any) -> list[str]:
            r = await api.as_(org_a).get("/api/v1/runs", params=params)
            assert r.status_code == 200, r.text
            return [run["id"] for run in r.json()["items"]]

        assert await ids(kind="ingest") == [queued["id"], cancelled["id"]]  # newest first
        assert await ids(status="queued") == [queued["id"]]
        assert await ids(status="cancelled") == [cancelled["id"]]
        assert await ids(kind="ingest", status="running") == []
        assert await ids(kind="train") == []
        assert await ids(project_id=first["project_id"]) == [cancelled["id"]]

    async def test_another_tenants_run_is_404_everywhere(
        self, api: Api, org_a: Tenant, org_b: Tenant
    ) -> None:
        col = await new_collection(api, org_a)
        run = (await self._ingest(api, org_a, col["id"])).json()
        as_b = api.as_(org_b)
        for r in [
            await as_b.get(f"/api/v1/runs/{run['id']}"),
            await as_b.get(f"/api/v1/runs/{run['id']}/logs"),
            await as_b.post(f"/api/v1/runs/{run['id']}/cancel"),
            await self._ingest(api, org_b, col["id"]),
        ]:
            assert r.status_code == 404 and r.json()["error"] == "not_found", r.text
        assert (await as_b.get("/api/v1/runs")).json()["items"] == []
        # B's cancel did nothing to A's run.
        assert (await api.as_(org_a).get(f"/api/v1/runs/{run['id']}")).json()["status"] == "queued"


class TestSearch:
    async def test_empty_collection_gives_no_hits(self, api: Api, org_a: Tenant) -> None:
        col = await new_collection(api, org_a)
        r = await api.as_(org_a).post(
            f"/api/v1/collections/{col['id']}/search", json={"vector": [0.1] * DIMS, "top_k": 3}
        )
        assert r.status_code == 200, r.text
        assert r.json() == {"collection_id": col["id"], "mode": "vector", "hits": []}

    async def test_chunks_of_this_collection_only_are_found(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection
    ) -> None:
        col, other = await new_collection(api, org_a), await new_collection(api, org_a)
        doc = (await upload(api, org_a, col["id"], [("d.txt", b"words", "text/plain")])).json()
        other_doc = (await upload(api, org_a, other["id"], [("o.txt", b"x", "text/plain")])).json()
        chunk = insert_chunk(owner_conn, doc[0]["document"], org_a)
        insert_chunk(owner_conn, other_doc[0]["document"], org_a)
        r = await api.as_(org_a).post(
            f"/api/v1/collections/{col['id']}/search", json={"vector": [0.01] * DIMS, "top_k": 5}
        )
        assert r.status_code == 200, r.text
        hits = r.json()["hits"]
        assert [h["chunk_id"] for h in hits] == [chunk]
        assert hits[0]["document_name"] == "d.txt"
        assert hits[0]["score"] == pytest.approx(1.0, abs=1e-6)  # same direction: cosine 1

    @pytest.mark.parametrize(
        ("body", "needle"),
        [
            ({"vector": [0.1] * (DIMS - 1)}, "dimensions"),
            ({"vector": [0.1] * (DIMS + 1)}, "dimensions"),
            ({}, "exactly one of query or vector"),
            ({"query": "hello", "vector": [0.1] * DIMS}, "exactly one of query or vector"),
            ({"vector": [0.1] * DIMS, "mode": "hybrid"}, "hybrid"),
            ({"vector": [0.1] * DIMS, "top_k": 0}, "top_k"),
        ],
        ids=["too-narrow", "too-wide", "neither", "both", "hybrid-without-query", "top-k-zero"],
    )
    async def test_bad_requests_are_422(
        self, api: Api, org_a: Tenant, body: dict[str, Any], needle: str
    ) -> None:
        col = await new_collection(api, org_a)
        r = await api.as_(org_a).post(f"/api/v1/collections/{col['id']}/search", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "validation_error"
        assert needle in json.dumps(r.json()["detail"])

    async def test_another_tenants_collection_is_404(
        self, api: Api, org_a: Tenant, org_b: Tenant
    ) -> None:
        col = await new_collection(api, org_a)
        r = await api.as_(org_b).post(
            f"/api/v1/collections/{col['id']}/search", json={"vector": [0.1] * DIMS}
        )
        assert r.status_code == 404 and r.json()["error"] == "not_found"


class TestChunkRepository:
    """The repository's bulk statements, on the real database."""

    @staticmethod
    def _chunk(
        conn: psycopg.Connection, document: dict[str, Any], tenant: Tenant, index: int, **row: Any
    ) -> None:
        conn.execute(
            "INSERT INTO chunks (id, organization_id, collection_id, document_id, chunk_index, "
            "content_hash, model, text, token_count, dimensions, embedding) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, 'words', 1, %s, %s)",
            (
                uuid.uuid4(),
                tenant.organization_id,
                document["collection_id"],
                document["id"],
                index,
                row.get("content_hash", f"h{index}"),
                row.get("model", "all-MiniLM-L6-v2"),
                DIMS,
                str([0.01] * DIMS),
            ),
        )

    async def test_prune_keeps_exactly_what_each_listed_document_wrote(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection, services: Any
    ) -> None:
        from raylane.core.collections.repository import ChunkRepository
        from raylane.infra.db.session import Database
        from raylane.infra.db.urls import app_url

        col = await new_collection(api, org_a)
        files = [(f"{n}.txt", f"text {n}".encode(), "text/plain") for n in ("a", "b", "c")]
        a, b, c = (d["document"] for d in (await upload(api, org_a, col["id"], files)).json())
        for index in range(3):
            self._chunk(owner_conn, a, org_a, index)  # a keeps 0 and 2 (1 is stale)
            self._chunk(owner_conn, b, org_a, index)  # b keeps nothing
            self._chunk(owner_conn, c, org_a, index)  # c is not listed: untouched
        self._chunk(owner_conn, a, org_a, 0, content_hash="old")  # same index, old text
        self._chunk(owner_conn, a, org_a, 2, model="other-model")  # another model's vector

        db = Database(app_url(services), pool_size=1)
        try:
            async with db.session(organization_id=uuid.UUID(org_a.organization_id)) as session:
                deleted = await ChunkRepository(session).prune(
                    {uuid.UUID(a["id"]): [(0, "h0"), (2, "h2")], uuid.UUID(b["id"]): []},
                    model="all-MiniLM-L6-v2",
                )
        finally:
            await db.dispose()

        def left(document: dict[str, Any]) -> list[tuple[int, str, str]]:
            return [
                tuple(r)
                for r in owner_conn.execute(
                    "SELECT chunk_index, content_hash, model FROM chunks WHERE document_id = %s "
                    "ORDER BY 1, 2, 3",
                    (document["id"],),
                )
            ]

        assert deleted == 6
        assert left(a) == [(0, "h0", "all-MiniLM-L6-v2"), (2, "h2", "all-MiniLM-L6-v2")]
        assert left(b) == []
        assert len(left(c)) == 3

    async def test_every_connection_starts_with_the_search_settings(self, services: Any) -> None:
        from sqlalchemy import text

        from raylane.infra.db.session import HNSW_EF_SEARCH, Database
        from raylane.infra.db.urls import app_url

        db = Database(app_url(services), pool_size=1)
        try:
            for _ in range(2):  # a rolled-back transaction must not take the setting with it
                async with db.session() as session:
                    value = (await session.execute(text("SHOW hnsw.ef_search"))).scalar()
                    assert value == str(HNSW_EF_SEARCH)
                    await session.execute(text("SET LOCAL hnsw.ef_search = 7"))
                    await session.rollback()
        finally:
            await db.dispose()
