"""Object storage behind one small interface: ``file:///abs/root`` (default) and ``s3://bucket/prefix``.

Keys are relative, ``/``-separated names such as ``org/<id>/documents/<id>/original.pdf``. Both
backends validate them the same way, so a key that works on a laptop works on S3 and a key that
could escape the root is refused everywhere.

Error messages name neither the bucket, the root, nor the key, nor carry the storage library's
own text: they can reach clients (an API error body, a document's ingest error). The details go
to the log instead.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from raylane.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable

if TYPE_CHECKING:
    from raylane.config import Settings

log = logging.getLogger(__name__)

MAX_KEY_BYTES = 1024  # S3's limit; applied to files too so both backends accept the same keys
MAX_SEGMENT_BYTES = 255  # NAME_MAX on common filesystems
_TMP_PREFIX = ".rl-tmp-"  # in-flight writes; never listed, never a valid key segment
_FILE_MODE = 0o640
_DIR_MODE = 0o750


@runtime_checkable
class ObjectStore(Protocol):
    """What the platform needs from object storage; keys are relative ``/``-separated names."""

    def put(self, key: str, data: bytes, *, content_type: str | None = None) -> str:
        """Store ``data`` under ``key`` (replacing any object there) and return its URL."""
        ...

    def get(self, key: str) -> bytes:
        """Return the object's bytes; raise ``NotFound`` when there is none."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        ...

    def list(self, prefix: str = "") -> builtins.list[str]:
        """Keys starting with ``prefix`` (a plain string prefix, as in S3), sorted."""
        ...

    def url(self, key: str) -> str:
        """The object's URL (``file://...`` or ``s3://...``); the object need not exist."""
        ...


def _check_text(value: str, what: str) -> None:
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string")
    # Control characters (NUL above all) break filesystems, logs and S3 consoles alike.
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise InvalidInput(f"{what} contains control characters")
    if "\\" in value:
        raise InvalidInput(f"{what} contains a backslash; use '/' to separate parts")
    if value.startswith("/"):
        raise InvalidInput(f"{what} must be relative, not absolute")
    if len(value.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidInput(f"{what} is longer than {MAX_KEY_BYTES} bytes")


def validate_key(key: str) -> str:
    """Check that ``key`` is a safe relative object name and return it unchanged.

    Args:
        key: ``/``-separated name; no empty, ``.`` or ``..`` parts, no control characters.

    Raises:
        InvalidInput: the key is empty, absolute, escapes the root or contains bad characters.
    """
    _check_text(key, "object key")
    if not key:
        raise InvalidInput("object key must not be empty")
    for part in key.split("/"):
        if part in ("", ".", ".."):
            raise InvalidInput("object key has an empty, '.' or '..' part")
        if part.startswith(_TMP_PREFIX):
            raise InvalidInput(f"object key uses the reserved prefix {_TMP_PREFIX!r}")
        if len(part.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidInput(f"object key has a part longer than {MAX_SEGMENT_BYTES} bytes")
    return key


def _validate_prefix(prefix: str) -> str:
    # A prefix may end mid-name ("docs/rep") or with "/", but must not climb out of the root.
    _check_text(prefix, "prefix")
    # Only the parts before the last "/" name directories; the rest is matched as a string.
    if any(part in (".", "..") for part in prefix.split("/")[:-1]):
        raise InvalidInput("prefix has a '.' or '..' part")
    return prefix


class FileStore:
    """Objects as files under ``root``; writes are atomic (temp file, fsync, rename).

    ``content_type`` is accepted for interface parity and not stored: files carry no metadata.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"FileStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def put(self, key: str, data: bytes, *, content_type: str | None = None) -> str:
        """Write ``data`` atomically: readers see the old object or the new one, never a part."""
        path = self._path(key)
        try:
            path.parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            log.warning("object store refused a write", extra={"key": key}, exc_info=exc)
            raise Conflict("cannot store the object: a parent of its key is an object") from exc
        fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
        replaced = False
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
                os.fchmod(fh.fileno(), _FILE_MODE)  # mkstemp creates 0600 whatever the umask
            os.replace(tmp_name, path)
            replaced = True
        except IsADirectoryError as exc:
            log.warning("object store refused a write", extra={"key": key}, exc_info=exc)
            raise Conflict("cannot store the object: other objects live under its key") from exc
        finally:
            if not replaced:  # a failed write never leaves its temp file behind
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp_name)
        self._fsync_dir(path.parent)
        return path.as_uri()

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        # The rename is durable only once the directory entry itself reaches the disk.
        try:
            dir_fd = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass  # some filesystems refuse fsync on directories; the data itself is synced
        finally:
            os.close(dir_fd)

    def get(self, key: str) -> bytes:
        """Read the whole object."""
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise _missing() from exc

    def delete(self, key: str) -> None:
        """Remove the file; missing keys are fine.

        Empty directories are left in place on purpose: pruning them races with a concurrent
        ``put`` that has just created the same directory for its temp file.
        """
        with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
            self._path(key).unlink()

    def exists(self, key: str) -> bool:
        """Whether a file is stored under ``key``."""
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> builtins.list[str]:
        """Keys starting with ``prefix``, sorted; in-flight temp files are never listed."""
        _validate_prefix(prefix)
        base_key = prefix.rpartition("/")[0]
        base = self.root.joinpath(*base_key.split("/")) if base_key else self.root
        if not base.is_dir():
            return []
        keys: builtins.list[str] = []
        for dirpath, _dirnames, filenames in os.walk(base):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if name.startswith(_TMP_PREFIX):
                    continue
                key = name if rel == "." else f"{rel}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def url(self, key: str) -> str:
        """``file://`` URL of the object."""
        return self._path(key).as_uri()


_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class S3Store:
    """Objects in an S3-compatible bucket under ``prefix``; the client is built on first use."""

    _page_size = 1000  # list_objects_v2 page size; S3's own maximum

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("S3Store needs a bucket name")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.region = region
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        # Never show credentials: reprs end up in logs and tracebacks.
        return (
            f"S3Store(bucket={self.bucket!r}, prefix={self.prefix!r}, "
            f"endpoint={self.endpoint_url!r})"
        )

    @property
    def client(self) -> Any:
        """The boto3 S3 client (thread-safe once built)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._build_client()
        return self._client

    def _build_client(self) -> Any:
        import boto3  # imported lazily: boto3 costs ~0.3 s and file:// deployments never need it
        from botocore.config import Config

        config = Config(
            connect_timeout=10,
            read_timeout=60,
            retries={"max_attempts": 5, "mode": "standard"},
            # Custom endpoints (MinIO, Ceph, test servers) rarely support virtual-host buckets.
            s3={"addressing_style": "path"} if self.endpoint_url else None,
        )
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self._access_key_id,
            aws_secret_access_key=self._secret_access_key,
            config=config,
        )

    def _full_key(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _unavailable(self, exc: Exception, action: str) -> ServiceUnavailable:
        # The bucket, the key and the service's own words are for the log, not for clients.
        code = _error_code(exc) or type(exc).__name__
        log.warning(
            "object storage failed to %s",
            action,
            extra={"bucket": self.bucket, "endpoint": self.endpoint_url, "code": code},
            exc_info=exc,
        )
        return ServiceUnavailable(f"object storage failed to {action}")

    def put(self, key: str, data: bytes, *, content_type: str | None = None) -> str:
        """Upload ``data`` in one request (S3 makes a single PUT atomic)."""
        from botocore.exceptions import BotoCoreError, ClientError

        extra = {"ContentType": content_type} if content_type else {}
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._full_key(key), Body=data, **extra)
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(exc, "store an object") from exc
        return self.url(key)

    def get(self, key: str) -> bytes:
        """Download the whole object."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._full_key(key))
            return bytes(response["Body"].read())
        except ClientError as exc:
            if _error_code(exc) in _MISSING_CODES:
                raise _missing() from exc
            raise self._unavailable(exc, "read an object") from exc
        except BotoCoreError as exc:
            raise self._unavailable(exc, "read an object") from exc

    def delete(self, key: str) -> None:
        """Delete the object; S3 itself answers success for missing keys."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._full_key(key))
        except ClientError as exc:
            if _error_code(exc) not in _MISSING_CODES:
                raise self._unavailable(exc, "delete an object") from exc
        except BotoCoreError as exc:
            raise self._unavailable(exc, "delete an object") from exc

    def exists(self, key: str) -> bool:
        """Whether the object exists (one HEAD request)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._full_key(key))
        except ClientError as exc:
            if _error_code(exc) in _MISSING_CODES:
                return False
            raise self._unavailable(exc, "check an object") from exc
        except BotoCoreError as exc:
            raise self._unavailable(exc, "check an object") from exc
        return True

    def list(self, prefix: str = "") -> builtins.list[str]:
        """Keys under this store's prefix that start with ``prefix``, following every page."""
        from botocore.exceptions import BotoCoreError, ClientError

        _validate_prefix(prefix)
        root = f"{self.prefix}/" if self.prefix else ""
        keys: builtins.list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket,
                Prefix=root + prefix,
                PaginationConfig={"PageSize": self._page_size},
            )
            for page in pages:
                keys.extend(item["Key"][len(root) :] for item in page.get("Contents", ()))
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(exc, "list objects") from exc
        return sorted(keys)

    def url(self, key: str) -> str:
        """``s3://bucket/prefix/key``."""
        return f"s3://{self.bucket}/{self._full_key(key)}"


def _missing() -> NotFound:
    # NotFound names what is missing; the key would tell a client how storage is laid out.
    return NotFound("stored", "object")


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


def open_store(url: str, **s3_options: Any) -> ObjectStore:
    """Open the store a URL names.

    Args:
        url: ``file:///absolute/root`` or ``s3://bucket[/prefix]``.
        **s3_options: ``endpoint_url``, ``region``, ``access_key_id``, ``secret_access_key``
            for ``s3://`` URLs; ignored for ``file://``.

    Raises:
        ValueError: the URL's scheme is not supported or it lacks a root or bucket.
    """
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file:// storage URL must be local, got host {parts.netloc!r}")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise ValueError(f"file:// storage URL needs an absolute path: {url!r}")
        return FileStore(Path(path))
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"s3:// storage URL needs a bucket: {url!r}")
        return S3Store(parts.netloc, unquote(parts.path).strip("/"), **s3_options)
    raise ValueError(f"unsupported storage URL {url!r}: use file:///path or s3://bucket/prefix")


def store_from_settings(settings: Settings) -> ObjectStore:
    """The store configured in ``settings`` (``file://<data dir>/objects`` by default)."""
    url = settings.storage_url
    if not url.startswith("s3://"):
        return open_store(url)
    storage = settings.storage
    return open_store(
        url,
        endpoint_url=storage.endpoint_url,
        region=storage.region,
        access_key_id=_secret(storage.access_key_id),
        secret_access_key=_secret(storage.secret_access_key),
    )


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None
