"""Datasets over HTTP on real Postgres, Redis and the default file store: content addressing,
strict validation with nothing stored on a refusal, collection snapshots, tenancy."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import pytest

from tests.factories import Api, Tenant

DATA = Path(__file__).parents[1] / "data" / "train_small.jsonl"


@pytest.fixture(scope="module")
def objects_root(services) -> Path:  # type: ignore[no-untyped-def]
    url = urlsplit(services.storage_url)
    assert url.scheme == "file", "these tests expect the default file store"
    return Path(unquote(url.path))


async def new_dataset(api: Api, tenant: Tenant, **body: Any) -> dict[str, Any]:
    owner = api.as_(tenant)
    project = (await owner.post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex}"})).json()
    r = await owner.post(
        f"/api/v1/projects/{project['id']}/datasets", json={"name": "intents", **body}
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def upload(api: Api, tenant: Tenant, dataset_id: str, name: str, data: bytes) -> Any:
    return await api.as_(tenant).post(
        f"/api/v1/datasets/{dataset_id}/upload", files={"file": (name, data)}
    )


def stored(conn: psycopg.Connection, root: Path, dataset_id: str) -> tuple[int, int, int]:
    """(versions, files in the dataset's folder, outbox rows) as the owner sees them."""
    row = conn.execute(
        "SELECT count(*) FROM dataset_versions WHERE dataset_id = %s", (dataset_id,)
    ).fetchone()
    assert row is not None
    files = list(root.rglob(f"datasets/{dataset_id}/*"))
    pending = conn.execute(
        "SELECT count(*) FROM object_deletions WHERE object_key LIKE %s", (f"%{dataset_id}%",)
    ).fetchone()
    assert pending is not None
    return int(row[0]), len(files), int(pending[0])


class TestUpload:
    async def test_counts_rows_labels_and_splits(self, api: Api, org_a: Tenant) -> None:
        dataset = await new_dataset(api, org_a)
        r = await upload(api, org_a, dataset["id"], "train_small.jsonl", DATA.read_bytes())
        assert r.status_code == 201, r.text
        version = r.json()["version"]
        assert r.json()["created"] is True
        assert version["version"] == 1
        assert version["row_count"] == 300
        assert version["label_counts"] == {"cooking": 75, "finance": 75, "sports": 75, "tech": 75}
        assert version["splits"] == {"test": 28, "train": 240, "validation": 32}
        content = await api.as_(org_a).get(f"/api/v1/datasets/{dataset['id']}/versions/1/content")
        assert content.status_code == 200
        rows = [json.loads(line) for line in content.text.splitlines()]
        assert len(rows) == 300 and set(rows[0]) == {"text", "label", "split"}

    async def test_same_bytes_same_version_nothing_duplicated(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection, objects_root: Path
    ) -> None:
        dataset = await new_dataset(api, org_a)
        first = await upload(api, org_a, dataset["id"], "a.jsonl", DATA.read_bytes())
        again = await upload(api, org_a, dataset["id"], "b.jsonl", DATA.read_bytes())
        assert again.status_code == 201
        assert again.json()["created"] is False
        assert again.json()["version"]["id"] == first.json()["version"]["id"]
        assert stored(owner_conn, objects_root, dataset["id"]) == (1, 1, 0)
        # Other bytes make the next version.
        other = DATA.read_bytes() + b'{"text": "one more", "label": "tech"}\n'
        second = await upload(api, org_a, dataset["id"], "c.jsonl", other)
        assert second.json()["version"]["version"] == 2
        listed = await api.as_(org_a).get(f"/api/v1/datasets/{dataset['id']}/versions")
        assert [v["version"] for v in listed.json()["items"]] == [2, 1]
        assert stored(owner_conn, objects_root, dataset["id"]) == (2, 2, 0)

    async def test_csv_with_and_without_split(self, api: Api, org_a: Tenant) -> None:
        dataset = await new_dataset(api, org_a)
        data = b'text,label,split\n"Hello, world",greet,train\nBye now,leave,\n'
        r = await upload(api, org_a, dataset["id"], "d.csv", data)
        assert r.status_code == 201, r.text
        assert r.json()["version"]["format"] == "csv"
        assert r.json()["version"]["label_counts"] == {"greet": 1, "leave": 1}
        assert r.json()["version"]["splits"] == {"train": 1}

    @pytest.mark.parametrize(
        ("name", "data", "message"),
        [
            (
                "x.jsonl",
                b'{"text": "a", "label": "x"}\n{"text": "b"}\n',
                "line 2: label is missing",
            ),
            (
                "x.jsonl",
                b'{"text": "a", "label": "x"}\n\n{"text": oops}\n',
                "line 3: not valid JSON",
            ),
            ("x.jsonl", b'{"text": "", "label": "x"}\n', "line 1: text must be a non-empty"),
            ("x.jsonl", b'{"text": "a", "label": 1.5}\n', "line 1: label must be a string"),
            ("x.jsonl", b'{"text": "a", "label": "x", "split": "dev"}\n', "line 1: split must"),
            ("x.jsonl", b'{"text": "a", "label": "x"}\n{"text": "b", "label": "x"}\n', "two"),
            ("x.csv", b"text,label\nfine,x\nbroken\n", "line 3: 1 fields"),
            ("x.csv", b"body,label\nfine,x\n", "line 1: the header has no 'text'"),
            ("x.jsonl", b"\xff\xfe garbage", "not UTF-8"),
        ],
    )
    async def test_bad_file_is_refused_naming_the_line_and_nothing_is_stored(
        self,
        api: Api,
        org_a: Tenant,
        owner_conn: psycopg.Connection,
        objects_root: Path,
        name: str,
        data: bytes,
        message: str,
    ) -> None:
        dataset = await new_dataset(api, org_a)
        events = owner_conn.execute(
            "SELECT count(*) FROM audit_events WHERE organization_id = %s", (org_a.organization_id,)
        ).fetchone()
        r = await upload(api, org_a, dataset["id"], name, data)
        assert r.status_code == 422, r.text
        assert message in r.json()["detail"]
        assert stored(owner_conn, objects_root, dataset["id"]) == (0, 0, 0)
        after = owner_conn.execute(
            "SELECT count(*) FROM audit_events WHERE organization_id = %s", (org_a.organization_id,)
        ).fetchone()
        assert after == events
        got = await api.as_(org_a).get(f"/api/v1/datasets/{dataset['id']}")
        assert got.json()["latest_version"] == 0

    async def test_large_upload_uses_the_upload_limit(self, api: Api, org_a: Tenant) -> None:
        """Over the JSON body limit (1 MiB) but under the upload limit: accepted."""
        dataset = await new_dataset(api, org_a)
        line = json.dumps({"text": "x" * 1000, "label": "a"}) + "\n"
        data = (line * 1100 + json.dumps({"text": "y", "label": "b"}) + "\n").encode()
        assert len(data) > 1_048_576
        r = await upload(api, org_a, dataset["id"], "big.jsonl", data)
        assert r.status_code == 201, r.text


class TestCollectionSource:
    async def test_snapshot_of_labeled_chunks(
        self, api: Api, org_a: Tenant, owner_conn: psycopg.Connection
    ) -> None:
        owner = api.as_(org_a)
        project = (
            await owner.post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex}"})
        ).json()
        collection = (
            await owner.post(
                f"/api/v1/projects/{project['id']}/collections",
                json={"name": "tickets", "metadata_schema": {"topic": "string"}},
            )
        ).json()
        docs = [
            {"name": "a.txt", "text": "refund my order", "metadata": {"topic": "billing"}},
            {"name": "b.txt", "text": "app crashes on start", "metadata": {"topic": "bug"}},
            {"name": "c.txt", "text": "no label here", "metadata": {}},
        ]
        r = await owner.post(
            f"/api/v1/collections/{collection['id']}/documents/text", json={"documents": docs}
        )
        assert r.status_code == 201, r.text
        # The ingest job writes chunks; here they are written as it would (no Ray in this suite).
        for item in r.json():
            document = item["document"]
            text = next(d["text"] for d in docs if d["name"] == document["name"])
            owner_conn.execute(
                "INSERT INTO chunks (id, organization_id, collection_id, document_id, chunk_index,"
                " content_hash, model, text, token_count, metadata, dimensions, embedding)"
                " VALUES (%s, %s, %s, %s, 0, 'h', %s, %s, 4, %s, 384, %s::vector)",
                (
                    uuid.uuid4(),
                    org_a.organization_id,
                    collection["id"],
                    document["id"],
                    collection["embedding_model"],
                    text,
                    json.dumps(document["metadata"]),
                    "[" + ",".join(["0.1"] * 384) + "]",
                ),
            )
        r = await owner.post(
            f"/api/v1/projects/{project['id']}/datasets",
            json={
                "name": "from-tickets",
                "collection_id": collection["id"],
                "label_field": "topic",
            },
        )
        assert r.status_code == 201, r.text
        snap = await owner.post(f"/api/v1/datasets/{r.json()['id']}/snapshot")
        assert snap.status_code == 201, snap.text
        version = snap.json()["version"]
        assert version["format"] == "collection"
        assert version["label_counts"] == {"billing": 1, "bug": 1}
        assert version["origin"]["collection_id"] == collection["id"]
        again = await owner.post(f"/api/v1/datasets/{r.json()['id']}/snapshot")
        assert again.json()["created"] is False

    async def test_collection_of_another_project_is_refused(self, api: Api, org_a: Tenant) -> None:
        owner = api.as_(org_a)
        project = (
            await owner.post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex}"})
        ).json()
        collection = (
            await owner.post(f"/api/v1/projects/{project['id']}/collections", json={"name": "c"})
        ).json()
        other = (
            await owner.post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex}"})
        ).json()
        r = await owner.post(
            f"/api/v1/projects/{other['id']}/datasets",
            json={"name": "x", "collection_id": collection["id"], "label_field": "topic"},
        )
        assert r.status_code == 422


class TestTenancy:
    async def test_another_organization_gets_404_everywhere(
        self, api: Api, org_a: Tenant, org_b: Tenant
    ) -> None:
        dataset = await new_dataset(api, org_a)
        await upload(api, org_a, dataset["id"], "a.jsonl", DATA.read_bytes())
        theirs = api.as_(org_b)
        for path in [
            f"/api/v1/datasets/{dataset['id']}",
            f"/api/v1/datasets/{dataset['id']}/versions",
            f"/api/v1/datasets/{dataset['id']}/versions/1",
            f"/api/v1/datasets/{dataset['id']}/versions/1/content",
            f"/api/v1/projects/{dataset['project_id']}/datasets",
        ]:
            r = await theirs.get(path)
            assert r.status_code == 404, path
            assert r.json()["error"] == "not_found"
        r = await upload(api, org_b, dataset["id"], "a.jsonl", DATA.read_bytes())
        assert r.status_code == 404
        r = await theirs.post(f"/api/v1/datasets/{dataset['id']}/snapshot")
        assert r.status_code == 404
