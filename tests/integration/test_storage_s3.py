"""S3Store against a real S3 API: moto's standalone server in a subprocess on 127.0.0.1.

The behaviour suite is the one FileStore passes (``ObjectStoreContract``); each test gets its
own prefix in one bucket so tests stay independent without restarting the server.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from raylane.core.errors import NotFound, ServiceUnavailable
from raylane.core.storage import S3Store, open_store
from tests.unit.test_storage import ObjectStoreContract

BUCKET = "raylane-test"
CREDENTIALS = {"region": "us-east-1", "access_key_id": "testing", "secret_access_key": "testing"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(
    proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = log.read_text(errors="replace")
            raise RuntimeError(f"moto server exited with {proc.returncode}:\n{output}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"moto server did not answer on {url} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    # A file, not a pipe: nobody drains a pipe once the server is up, and a full one blocks it.
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, endpoint, log)
        S3Store(BUCKET, endpoint_url=endpoint, **CREDENTIALS).client.create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
        store = S3Store("b", endpoint_url=f"http://127.0.0.1:{_free_port()}", **CREDENTIALS)
        with pytest.raises(ServiceUnavailable):
            store.get("a")
