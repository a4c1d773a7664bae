"""S3Store against a real S3 API: moto's standalone server in a subprocess on 127.0.0.1.

The behaviour suite is the one FileStore passes (``ObjectStoreContract``); each test gets its
own prefix in one bucket so tests stay independent without restarting the server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from raylane.errors import NotFound, ServiceUnavailable
from raylane.infra.storage import S3Store, open_store
from tests.services import S3_CREDENTIALS, free_port, s3_server
from tests.unit.test_storage import ObjectStoreContract

BUCKET = "raylane-test"
CREDENTIALS = S3_CREDENTIALS


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with s3_server(tmp_path_factory.mktemp("moto"), buckets=(BUCKET,)) as endpoint:
        yield endpoint


def _store(endpoint: str, prefix: str | None = None) -> S3Store:
    return S3Store(BUCKET, prefix or f"t-{uuid.uuid4().hex}", endpoint_url=endpoint, **CREDENTIALS)


class TestS3StoreContract(ObjectStoreContract):
    @pytest.fixture
    def store(self, s3_endpoint: str) -> S3Store:
        return _store(s3_endpoint)


class TestS3Store:
    def test_prefixes_isolate_stores(self, s3_endpoint: str) -> None:
        one, two = _store(s3_endpoint), _store(s3_endpoint)
        one.put("shared/name", b"one")
        assert two.list() == []
        assert not two.exists("shared/name")
        with pytest.raises(NotFound):
            two.get("shared/name")

    def test_objects_land_under_prefix_with_content_type(self, s3_endpoint: str) -> None:
        store = _store(s3_endpoint, "tenant-a/docs")
        url = store.put("x/report.pdf", b"%PDF-1.4", content_type="application/pdf")
        assert url == f"s3://{BUCKET}/tenant-a/docs/x/report.pdf"
        head = store.client.head_object(Bucket=BUCKET, Key="tenant-a/docs/x/report.pdf")
        assert head["ContentType"] == "application/pdf"

    def test_list_follows_every_page(
        self, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = _store(s3_endpoint)
        monkeypatch.setattr(S3Store, "_page_size", 2)
        keys = [f"k/{i:02d}" for i in range(7)]
        for key in reversed(keys):
            store.put(key, b"x")
        assert store.list("k/") == keys

    def test_open_store_with_s3_url(self, s3_endpoint: str) -> None:
        store = open_store(f"s3://{BUCKET}/via-url", endpoint_url=s3_endpoint, **CREDENTIALS)
        store.put("a", b"1")
        assert store.get("a") == b"1"

    def test_missing_bucket_is_service_unavailable(self, s3_endpoint: str) -> None:
        store = S3Store("no-such-bucket", endpoint_url=s3_endpoint, **CREDENTIALS)
        with pytest.raises(ServiceUnavailable):
            store.put("a", b"1")
        with pytest.raises(ServiceUnavailable):
            store.list()

    def test_unreachable_endpoint_is_service_unavailable(self) -> None:
        store = S3Store("b", endpoint_url=f"http://127.0.0.1:{free_port()}", **CREDENTIALS)
        with pytest.raises(ServiceUnavailable):
            store.get("a")
