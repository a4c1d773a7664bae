"""Object storage: the behaviour every backend shares, then what is specific to files.

``ObjectStoreContract`` is reused by ``tests/integration/test_storage_s3.py`` for S3.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from raylane.config import Settings
from raylane.errors import Conflict, InvalidInput, NotFound
from raylane.infra.storage import (
    FileStore,
    ObjectStore,
    S3Store,
    open_store,
    store_from_settings,
    validate_key,
)

BAD_KEYS = [
    "",
    "/etc/passwd",
    "../escape",
    "a/../../escape",
    "a/./b",
    "a//b",
    "trailing/",
    "nul\x00byte",
    "new\nline",
    "back\\slash",
    "x" * 256,
    ".rl-tmp-abc",
]


class ObjectStoreContract:
    """Behaviour every ObjectStore must have; subclasses provide a fresh, empty ``store``."""

    def test_put_get_round_trip(self, store: ObjectStore) -> None:
        url = store.put("docs/a.txt", b"hello", content_type="text/plain")
        assert url == store.url("docs/a.txt")
        assert store.get("docs/a.txt") == b"hello"

    def test_put_on_an_existing_key_replaces_the_object(self, store: ObjectStore) -> None:
        store.put("k", b"first")
        store.put("k", b"second, longer")
        assert store.get("k") == b"second, longer"
        assert store.list() == ["k"]

    def test_binary_empty_and_large_objects(self, store: ObjectStore) -> None:
        every_byte = bytes(range(256)) * 4
        big = os.urandom(3 * 1024 * 1024)
        store.put("bin", every_byte)
        store.put("empty", b"")
        store.put("big", big)
        assert store.get("bin") == every_byte
        assert store.get("empty") == b""
        assert store.get("big") == big

    def test_unicode_and_spaces_in_keys(self, store: ObjectStore) -> None:
        key = "dökümanlar/rapor 2024 (final).pdf"
        store.put(key, b"%PDF")
        assert store.get(key) == b"%PDF"
        assert store.list("dökümanlar/") == [key]

    def test_get_missing_is_not_found(self, store: ObjectStore) -> None:
        with pytest.raises(NotFound) as info:
            store.get("nope/missing.bin")
        assert info.value.code == "not_found"
        assert "missing.bin" not in str(info.value)  # keys never reach a client

    def test_exists_is_true_for_objects_only(self, store: ObjectStore) -> None:
        assert not store.exists("a/b")
        store.put("a/b", b"x")
        assert store.exists("a/b")
        assert not store.exists("a")  # a "directory" is not an object

    def test_delete_is_idempotent(self, store: ObjectStore) -> None:
        store.put("gone", b"x")
        store.delete("gone")
        assert not store.exists("gone")
        store.delete("gone")
        store.delete("never/existed")
        with pytest.raises(NotFound):
            store.get("gone")

    def test_list_filters_by_string_prefix_and_sorts(self, store: ObjectStore) -> None:
        for key in ["b/4", "a/2", "ab/3", "a/1", "a/deep/5"]:
            store.put(key, b"x")
        assert store.list() == ["a/1", "a/2", "a/deep/5", "ab/3", "b/4"]
        assert store.list("a/") == ["a/1", "a/2", "a/deep/5"]
        assert store.list("a") == ["a/1", "a/2", "a/deep/5", "ab/3"]
        assert store.list("a/de") == ["a/deep/5"]
        assert store.list("zzz/") == []

    def test_list_after_delete(self, store: ObjectStore) -> None:
        store.put("p/1", b"x")
        store.put("p/2", b"x")
        store.delete("p/1")
        assert store.list("p/") == ["p/2"]

    @pytest.mark.parametrize("key", BAD_KEYS)
    def test_bad_keys_are_refused_everywhere(self, store: ObjectStore, key: str) -> None:
        for call in (
            lambda: store.put(key, b"x"),
            lambda: store.get(key),
            lambda: store.delete(key),
            lambda: store.exists(key),
            lambda: store.url(key),
        ):
            with pytest.raises(InvalidInput):
                call()
        assert store.list() == []

    @pytest.mark.parametrize("prefix", ["/abs", "../", "a/../", "nul\x00"])
    def test_bad_prefixes_are_refused(self, store: ObjectStore, prefix: str) -> None:
        with pytest.raises(InvalidInput):
            store.list(prefix)

    def test_store_satisfies_the_object_store_protocol(self, store: ObjectStore) -> None:
        assert isinstance(store, ObjectStore)


class TestFileStoreContract(ObjectStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> FileStore:
        return FileStore(tmp_path / "objects")


def _all_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


class TestFileStore:
    def test_layout_permissions_and_url(self, tmp_path: Path) -> None:
        store = FileStore(tmp_path)
        url = store.put("org/1/doc.txt", b"hi")
        path = tmp_path / "org" / "1" / "doc.txt"
        assert path.read_bytes() == b"hi"
        assert url == path.as_uri()
        assert stat.S_IMODE(path.stat().st_mode) == 0o640

    def test_no_temp_files_left_after_writes(self, tmp_path: Path) -> None:
        store = FileStore(tmp_path)
        for i in range(20):
            store.put(f"k/{i % 3}", os.urandom(1000))
        assert _all_files(tmp_path) == ["k/0", "k/1", "k/2"]

    def test_failed_write_keeps_old_object_and_cleans_up(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = FileStore(tmp_path)
        store.put("doc", b"old")

        def broken_replace(src: str, dst: str) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", broken_replace)
        with pytest.raises(OSError):
            store.put("doc", b"new")
        monkeypatch.undo()
        assert store.get("doc") == b"old"
        assert _all_files(tmp_path) == ["doc"]

    def test_in_flight_temp_files_are_not_listed(self, tmp_path: Path) -> None:
        store = FileStore(tmp_path)
        store.put("d/real", b"x")
        (tmp_path / "d" / ".rl-tmp-abcd1234").write_bytes(b"partial")
        assert store.list() == ["d/real"]

    def test_key_cannot_be_both_object_and_folder(self, tmp_path: Path) -> None:
        store = FileStore(tmp_path)
        store.put("a", b"x")
        with pytest.raises(Conflict):
            store.put("a/b", b"y")
        store.put("c/d", b"y")
        with pytest.raises(Conflict):
            store.put("c", b"z")
        assert _all_files(tmp_path) == ["a", "c/d"]

    def test_bad_key_touches_nothing_outside_root(self, tmp_path: Path) -> None:
        root = tmp_path / "root"
        store = FileStore(root)
        with pytest.raises(InvalidInput):
            store.put("../outside", b"x")
        assert not (tmp_path / "outside").exists()

    def test_validate_key_returns_good_keys(self) -> None:
        assert validate_key("org/1/doc-1.v2.pdf") == "org/1/doc-1.v2.pdf"


class TestOpenStore:
    def test_file_url_opens_a_file_store_at_its_path(self, tmp_path: Path) -> None:
        store = open_store((tmp_path / "my objects").as_uri())
        assert isinstance(store, FileStore)
        assert store.root == tmp_path / "my objects"

    def test_s3_url_builds_no_client(self) -> None:
        store = open_store(
            "s3://bucket/some/prefix/",
            endpoint_url="http://127.0.0.1:1",
            region="eu-west-1",
        )
        assert isinstance(store, S3Store)
        assert (store.bucket, store.prefix) == ("bucket", "some/prefix")
        assert store._client is None
        assert store.url("a/b") == "s3://bucket/some/prefix/a/b"

    @pytest.mark.parametrize("url", ["http://x/y", "file://host/x", "file:relative", "s3:///p"])
    def test_unsupported_or_malformed_urls_are_refused(self, url: str) -> None:
        with pytest.raises(ValueError):
            open_store(url)

    def test_from_default_settings(self, tmp_path: Path) -> None:
        store = store_from_settings(Settings(data_dir=tmp_path))
        assert isinstance(store, FileStore)
        assert store.root == tmp_path.resolve() / "objects"

    def test_from_s3_settings_keeps_secrets_out_of_repr(self) -> None:
        settings = Settings(
            storage={
                "url": "s3://b/p",
                "endpoint_url": "http://127.0.0.1:9000",
                "region": "us-east-1",
                "access_key_id": "AKIDEXAMPLE",
                "secret_access_key": "very-secret-value",
            }
        )
        store = store_from_settings(settings)
        assert isinstance(store, S3Store)
        assert store._access_key_id == "AKIDEXAMPLE"
        assert store._secret_access_key == "very-secret-value"
        assert "very-secret-value" not in repr(store)
        assert store.endpoint_url == "http://127.0.0.1:9000"
