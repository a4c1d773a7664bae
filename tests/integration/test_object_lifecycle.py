"""Stored objects follow their rows: kept while a row may still point at them, removed once the
commit that dropped the last such row is done, and never left by an upload that did not commit.

Real Postgres, real file store; a request "fails to commit" by making the step right before the
commit raise, after the route and its service have run.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import pytest

from raylane.core.collections.objects import drain, sweep_object_deletions
from raylane.core.collections.repository import ObjectDeletionRepository
from raylane.core.collections.service import document_service
from raylane.core.rbac import ROLE_PERMISSIONS, Actor, Role
from raylane.errors import NotFound, ServiceUnavailable
from raylane.infra.db.session import Database
from raylane.infra.db.urls import app_url
from raylane.infra.storage import FileStore, ObjectStore, S3Store
from tests.factories import Api, Tenant
from tests.integration.test_documents import new_collection, object_path, upload
from tests.services import S3_CREDENTIALS, s3_server


@pytest.fixture(scope="module")
def objects_root(services: Any) -> Path:
    url = urlsplit(services.storage_url)
    assert url.scheme == "file", "these tests expect the default file store"
    return Path(unquote(url.path))


@pytest.fixture
async def db(services: Any) -> AsyncIterator[Database]:
    database = Database(app_url(services), pool_size=2)
    yield database
    await database.dispose()


@contextmanager
def commits_fail(app: Any) -> Iterator[None]:
    """The requests made inside fail at their commit, after the route's service has run."""

    async def refuse(session: Any) -> None:
        raise RuntimeError("commit refused (test)")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(app.state.platform.gate, "before_commit", refuse)
        yield


class BrokenDeletes(FileStore):
    """The file store, except that deleting is down (reads and writes work)."""

    def delete(self, key: str) -> None:
        raise ServiceUnavailable("object storage failed to delete an object")


def outbox(conn: psycopg.Connection, tenant: Tenant) -> list[tuple[str, str, int]]:
    return [
        (str(r[0]), r[1], r[2])
        for r in conn.execute(
            "SELECT object_key, reason, attempts FROM object_deletions "
            "WHERE organization_id = %s ORDER BY created_at",
            (tenant.organization_id,),
        )
    ]


def make_due(conn: psycopg.Connection, tenant: Tenant) -> None:
    conn.execute(
        "UPDATE object_deletions SET next_attempt_at = now() WHERE organization_id = %s",
        (tenant.organization_id,),
    )


def actor(tenant: Tenant) -> Actor:
    return Actor(
        organization_id=uuid.UUID(tenant.organization_id),
        user_id=uuid.UUID(tenant.owner_id),
        role=Role.OWNER,
        permissions=ROLE_PERMISSIONS[Role.OWNER],
    )


async def one_document(api: Api, tenant: Tenant, data: bytes) -> tuple[dict[str, Any], Any]:
    col = await new_collection(api, tenant)
    r = await upload(api, tenant, col["id"], [("doc.txt", data, "text/plain")])
    assert r.status_code == 201, r.text
    return col, r.json()[0]["document"]


class TestNothingIsDeletedBeforeTheCommit:
    async def test_document_delete_that_fails_to_commit_keeps_the_object(
        self, api: Api, org_a: Tenant, objects_root: Path, owner_conn: Any, app: Any
    ) -> None:
        data = b"the only copy of this text"
        col, doc = await one_document(api, org_a, data)
        path = object_path(objects_root, org_a, col["id"], data)

        with commits_fail(app):
            r = await api.as_(org_a).delete(f"/api/v1/documents/{doc['id']}")
        assert r.status_code == 500

        assert path.read_bytes() == data
        assert owner_conn.execute("SELECT 1 FROM documents WHERE id = %s", (doc["id"],)).fetchone()
        assert outbox(owner_conn, org_a) == []  # rolled back with the delete

    async def test_collection_delete_that_fails_to_commit_keeps_the_objects(
        self, api: Api, org_a: Tenant, objects_root: Path, owner_conn: Any, app: Any
    ) -> None:
        data = b"a document of a collection that survives"
        col, _ = await one_document(api, org_a, data)

        with commits_fail(app):
            r = await api.as_(org_a).delete(f"/api/v1/collections/{col['id']}")
        assert r.status_code == 500

        assert object_path(objects_root, org_a, col["id"], data).read_bytes() == data
        assert outbox(owner_conn, org_a) == []

    async def test_replace_that_fails_to_commit_keeps_the_old_object(
        self, api: Api, org_a: Tenant, objects_root: Path, owner_conn: Any, app: Any
    ) -> None:
        v1, v2 = b"first version, still current", b"second version, never committed"
        col, doc = await one_document(api, org_a, v1)

        with commits_fail(app):
            r = await upload(api, org_a, col["id"], [("doc.txt", v2, "text/plain")])
        assert r.status_code == 500

        assert object_path(objects_root, org_a, col["id"], v1).read_bytes() == v1
        row = owner_conn.execute(
            "SELECT content_hash FROM documents WHERE id = %s", (doc["id"],)
        ).fetchone()
        assert row == (doc["content_hash"],)

    async def test_service_delete_rolled_back_keeps_the_object(
        self, api: Api, org_a: Tenant, objects_root: Path, db: Database, services: Any
    ) -> None:
        data = b"kept by a rollback"
        col, doc = await one_document(api, org_a, data)
        store = FileStore(objects_root)

        with pytest.raises(RuntimeError):
            async with db.session(organization_id=uuid.UUID(org_a.organization_id)) as session:
                await document_service.delete(
                    session, actor=actor(org_a), document_id=uuid.UUID(doc["id"]), store=store
                )
                raise RuntimeError("the request failed after the service ran")

        path = object_path(objects_root, org_a, col["id"], data)
        assert store.get(str(path.relative_to(objects_root))) == data
        r = await api.as_(org_a).get(f"/api/v1/documents/{doc['id']}")
        assert r.status_code == 200, r.text


class TestCommittedDeletesAreDrained:
    async def test_document_delete_removes_the_object_once_committed(
        self, api: Api, org_a: Tenant, objects_root: Path, owner_conn: Any
    ) -> None:
        data = b"gone after the commit"
        col, doc = await one_document(api, org_a, data)

        r = await api.as_(org_a).delete(f"/api/v1/documents/{doc['id']}")
        assert r.status_code == 204, r.text

        assert not object_path(objects_root, org_a, col["id"], data).exists()
        assert outbox(owner_conn, org_a) == []

    async def test_project_delete_removes_its_documents_objects(
        self, api: Api, org_a: Tenant, objects_root: Path, owner_conn: Any
    ) -> None:
        data = b"kept only while its project exists"
        col, _ = await one_document(api, org_a, data)
        path = object_path(objects_root, org_a, col["id"], data)
        assert path.exists()

        r = await api.as_(org_a).delete(f"/api/v1/projects/{col['project_id']}")
        assert r.status_code == 204, r.text

        assert not path.exists()
        assert outbox(owner_conn, org_a) == []

    async def test_replace_removes_the_old_object_once_committed(
        self, api: Api, org_a: Tenant, objects_root: Path, owner_conn: Any
    ) -> None:
        v1, v2 = b"old words", b"new words"
        col, _ = await one_document(api, org_a, v1)

        r = await upload(api, org_a, col["id"], [("doc.txt", v2, "text/plain")])
        assert r.status_code == 201, r.text

        assert not object_path(objects_root, org_a, col["id"], v1).exists()
        assert object_path(objects_root, org_a, col["id"], v2).read_bytes() == v2
        assert outbox(owner_conn, org_a) == []

    async def test_failed_deletion_is_retried_by_the_sweeper(
        self,
        api: Api,
        org_a: Tenant,
        objects_root: Path,
        owner_conn: Any,
        db: Database,
        services: Any,
    ) -> None:
        data = b"storage is down when this is deleted"
        col, doc = await one_document(api, org_a, data)
        path = object_path(objects_root, org_a, col["id"], data)

        async with db.session(organization_id=uuid.UUID(org_a.organization_id)) as session:
            await document_service.delete(
                session,
                actor=actor(org_a),
                document_id=uuid.UUID(doc["id"]),
                store=BrokenDeletes(objects_root),
            )
        # Committed: the row is gone, the object is not, and the outbox remembers it.
        assert path.exists()
        [(key, reason, attempts)] = outbox(owner_conn, org_a)
        assert (key, reason, attempts) == (
            str(path.relative_to(objects_root)),
            "document_deleted",
            1,
        )

        await sweep_object_deletions(services, db=db, store=FileStore(objects_root))
        assert path.exists() and len(outbox(owner_conn, org_a)) == 1  # backing off: not due yet

        make_due(owner_conn, org_a)
        assert await sweep_object_deletions(services, db=db, store=FileStore(objects_root)) >= 1
        assert not path.exists()
        assert outbox(owner_conn, org_a) == []


class TestUploadsThatDoNotCommit:
    async def test_failed_upload_leaves_no_object_once_swept(
        self,
        api: Api,
        org_a: Tenant,
        objects_root: Path,
        owner_conn: Any,
        db: Database,
        services: Any,
        app: Any,
    ) -> None:
        col = await new_collection(api, org_a)
        data = b"an upload whose transaction never commits"

        with commits_fail(app):
            r = await upload(api, org_a, col["id"], [("lost.txt", data, "text/plain")])
        assert r.status_code == 500

        path = object_path(objects_root, org_a, col["id"], data)
        assert [reason for _, reason, _ in outbox(owner_conn, org_a)] == ["upload"]
        assert await sweep_object_deletions(services, db=db, store=FileStore(objects_root)) >= 1
        assert not path.exists()
        assert outbox(owner_conn, org_a) == []
        count = owner_conn.execute(
            "SELECT count(*) FROM documents WHERE collection_id = %s", (col["id"],)
        ).fetchone()
        assert count == (0,)

    async def test_committed_upload_leaves_no_record_and_survives_a_sweep(
        self,
        api: Api,
        org_a: Tenant,
        objects_root: Path,
        owner_conn: Any,
        db: Database,
        services: Any,
    ) -> None:
        data = b"acknowledged and kept"
        col, _ = await one_document(api, org_a, data)
        assert outbox(owner_conn, org_a) == []
        await sweep_object_deletions(services, db=db, store=FileStore(objects_root))
        assert object_path(objects_root, org_a, col["id"], data).read_bytes() == data

    async def test_reuploaded_content_is_not_deleted_by_its_old_pending_deletion(
        self,
        api: Api,
        org_a: Tenant,
        objects_root: Path,
        owner_conn: Any,
        db: Database,
        services: Any,
    ) -> None:
        data = b"deleted, then uploaded again"
        col, doc = await one_document(api, org_a, data)
        async with db.session(organization_id=uuid.UUID(org_a.organization_id)) as session:
            await document_service.delete(
                session,
                actor=actor(org_a),
                document_id=uuid.UUID(doc["id"]),
                store=BrokenDeletes(objects_root),
            )
        assert len(outbox(owner_conn, org_a)) == 1  # the deletion is pending

        r = await upload(api, org_a, col["id"], [("again.txt", data, "text/plain")])
        assert r.status_code == 201 and r.json()[0]["created"] is True, r.text
        make_due(owner_conn, org_a)
        await sweep_object_deletions(services, db=db, store=FileStore(objects_root))

        assert object_path(objects_root, org_a, col["id"], data).read_bytes() == data
        assert outbox(owner_conn, org_a) == []  # settled: the object has a document again

    async def test_drain_leaves_a_key_an_upload_holds(
        self, api: Api, org_a: Tenant, objects_root: Path, owner_conn: Any, db: Database
    ) -> None:
        org = uuid.UUID(org_a.organization_id)
        key = f"{org}/{uuid.uuid4()}/in-flight"
        store: ObjectStore = FileStore(objects_root)
        store.put(key, b"being uploaded")
        async with db.session(organization_id=org) as setup:
            await ObjectDeletionRepository(setup).enqueue(
                organization_id=org, object_keys=[key], reason="upload"
            )

        async with db.session(organization_id=org) as uploading:
            await ObjectDeletionRepository(uploading).lock_key(key)  # as an upload in flight
            settled = await drain(lambda: db.session(organization_id=org), store)
            assert settled == 0 and store.exists(key)
        # The "upload" ended without a document: now the object goes.
        assert await drain(lambda: db.session(organization_id=org), store) == 1
        assert not store.exists(key)


class TestOutboxIsTenantScoped:
    async def test_rows_are_invisible_to_other_tenants_and_rls_is_forced(
        self,
        api: Api,
        org_a: Tenant,
        org_b: Tenant,
        objects_root: Path,
        owner_conn: Any,
        db: Database,
    ) -> None:
        forced = owner_conn.execute(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE relname = 'object_deletions'"
        ).fetchone()
        assert forced == (True, True)
        org = uuid.UUID(org_a.organization_id)
        async with db.session(organization_id=org) as session:
            await ObjectDeletionRepository(session).enqueue(
                organization_id=org, object_keys=[f"{org}/x/y"], reason="replaced"
            )
        async with db.session(organization_id=uuid.UUID(org_b.organization_id)) as session:
            assert await ObjectDeletionRepository(session).claim() == []
        async with db.session() as session:  # no tenant: nothing, but the due organizations
            assert await ObjectDeletionRepository(session).claim() == []
            assert org in await ObjectDeletionRepository(session).organizations_due(1000)

    async def test_sweeper_drains_every_tenant(
        self,
        api: Api,
        org_a: Tenant,
        org_b: Tenant,
        objects_root: Path,
        owner_conn: Any,
        db: Database,
        services: Any,
    ) -> None:
        paths = []
        for tenant in (org_a, org_b):
            data = f"{tenant.slug} document".encode()
            col, doc = await one_document(api, tenant, data)
            async with db.session(organization_id=uuid.UUID(tenant.organization_id)) as session:
                await document_service.delete(
                    session,
                    actor=actor(tenant),
                    document_id=uuid.UUID(doc["id"]),
                    store=BrokenDeletes(objects_root),
                )
            make_due(owner_conn, tenant)
            paths.append(object_path(objects_root, tenant, col["id"], data))
        assert all(p.exists() for p in paths)

        await sweep_object_deletions(services, db=db, store=FileStore(objects_root))

        assert not any(p.exists() for p in paths)
        assert outbox(owner_conn, org_a) == outbox(owner_conn, org_b) == []


HIDDEN_BUCKET = "rl-hidden-bucket-name"


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with s3_server(tmp_path_factory.mktemp("moto"), buckets=("rl-present",)) as endpoint:
        yield endpoint


class TestStorageErrorsRevealNothing:
    """Bucket names, object keys and the storage service's own words stay in the logs."""

    async def test_storage_outage_on_upload_is_a_bare_503(
        self, api: Api, org_a: Tenant, app: Any, s3_endpoint: str
    ) -> None:
        col = await new_collection(api, org_a)
        missing = S3Store(HIDDEN_BUCKET, "tenants", endpoint_url=s3_endpoint, **S3_CREDENTIALS)
        data = b"nowhere to go"
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(app.state.platform, "store", missing)
            r = await upload(api, org_a, col["id"], [("x.txt", data, "text/plain")])

        assert r.status_code == 503, r.text
        assert r.json()["error"] == "service_unavailable"
        for secret in (HIDDEN_BUCKET, "tenants", col["id"], "NoSuchBucket", "botocore"):
            assert secret not in r.text

    def test_missing_object_names_no_key(self, s3_endpoint: str, objects_root: Path) -> None:
        key = f"{uuid.uuid4()}/{uuid.uuid4()}/deadbeef"
        stores: list[ObjectStore] = [
            S3Store("rl-present", "p", endpoint_url=s3_endpoint, **S3_CREDENTIALS),
            FileStore(objects_root),
        ]
        for store in stores:
            with pytest.raises(NotFound) as info:  # an ingest copies this into document.error
                store.get(key)
            assert "deadbeef" not in info.value.detail and "rl-present" not in info.value.detail
