"""Request shapes of the data API (collections, documents, search and runs), shared by both
clients, and the polling rules of ``runs.wait``.

Like :mod:`raylane.client._resources`, this module only builds :class:`Call` objects and
checks answers; the sync and async resource groups send them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from pydantic import TypeAdapter

from raylane.client._http import Files
from raylane.client._resources import UNSET, Call, Collection, Ident, body, segment
from raylane.client.errors import (
    APIConnectionError,
    RateLimited,
    RaylaneError,
    RunFailed,
    ServiceUnavailable,
    ValidationError,
)
from raylane.schemas.collections import (
    CollectionCreate,
    CollectionRead,
    DocumentBatch,
    DocumentRead,
    DocumentUploaded,
    SearchRequest,
    SearchResults,
)
from raylane.schemas.runs import RunLogs, RunRead

FileInput = str | os.PathLike[str] | tuple[str, bytes] | tuple[str, bytes, str]
"""One file to upload: a path, or ``(name, content)`` / ``(name, content, content_type)``."""

RUN_STATUSES: Final = ("queued", "running", "cancelling", "succeeded", "failed", "cancelled")
TERMINAL: Final = frozenset({"succeeded", "failed", "cancelled"})
# Polls that may fail in a row (a replica restarting, a brief network loss) before giving up.
WAIT_RETRIES: Final = 30


def document_wire(data: Any) -> Any:
    """A document as sent (``metadata``) in the shape :class:`DocumentRead` reads
    (``metadata_``, the name of the ORM attribute it is also built from)."""
    if isinstance(data, dict) and "metadata" in data and "metadata_" not in data:
        return {**data, "metadata_": data["metadata"]}
    return data


_UPLOADED: Final = TypeAdapter(list[DocumentUploaded])


def parse_uploaded(data: Any) -> list[DocumentUploaded]:
    """The answer of an upload: one entry per file, in the order sent."""
    if isinstance(data, list):
        data = [
            {**item, "document": document_wire(item.get("document"))}
            if isinstance(item, dict)
            else item
            for item in data
        ]
    return _UPLOADED.validate_python(data)


COLLECTIONS: Final = Collection("/api/v1/collections", CollectionRead)
DOCUMENTS: Final = Collection("/api/v1/documents", DocumentRead, wire=document_wire)
RUNS: Final = Collection("/api/v1/runs", RunRead)


def project_collections(project_id: Ident) -> Collection[CollectionRead]:
    """``/projects/{id}/collections``: where collections are created and listed."""
    return Collection(f"/api/v1/projects/{segment(project_id)}/collections", CollectionRead)


def collection_documents(collection_id: Ident) -> Collection[DocumentRead]:
    """``/collections/{id}/documents``: where documents are uploaded and listed."""
    path = f"{COLLECTIONS.item(collection_id)}/documents"
    return Collection(path, DocumentRead, wire=document_wire)


def present(**fields: Any) -> dict[str, Any]:
    """The fields that were given: None becomes :data:`UNSET`, so it is not sent."""
    return {name: UNSET if value is None else value for name, value in fields.items()}


def create_collection(project_id: Ident, fields: Mapping[str, Any]) -> Call[CollectionRead]:
    """``POST /projects/{id}/collections`` with a locally validated body."""
    data = body(CollectionCreate, **present(**fields))
    return project_collections(project_id).create(data, CollectionRead)


def ingest(collection_id: Ident) -> Call[RunRead]:
    """``POST /collections/{id}/ingest``: 202 and the new run."""
    return Call("POST", f"{COLLECTIONS.item(collection_id)}/ingest", RunRead.model_validate)


def search(
    collection_id: Ident,
    *,
    query: str | None,
    vector: Sequence[float] | None,
    top_k: int,
    filters: Mapping[str, str | int | float | bool] | None,
    mode: str,
) -> Call[SearchResults]:
    """``POST /collections/{id}/search`` with a locally validated :class:`SearchRequest`."""
    data = body(
        SearchRequest,
        **present(
            query=query,
            vector=list(vector) if vector is not None else None,
            filters=dict(filters) if filters is not None else None,
        ),
        top_k=top_k,
        mode=mode,
    )
    path = f"{COLLECTIONS.item(collection_id)}/search"
    return Call("POST", path, SearchResults.model_validate, json=data)


def upload(
    collection_id: Ident,
    files: FileInput | Sequence[FileInput],
    metadata: Mapping[str, Any] | None,
) -> Call[list[DocumentUploaded]]:
    """``POST /collections/{id}/documents`` as multipart: ``files`` parts and ``metadata``.

    Raises:
        ValidationError: no file, a malformed entry, a name given twice, or metadata that is
            not a JSON object.
        OSError: a path cannot be read.
    """
    parts = file_parts(files)
    form = None if metadata is None else {"metadata": metadata_field(metadata)}
    path = collection_documents(collection_id).path
    return Call("POST", path, parse_uploaded, files=parts, form=form)


def add_texts(
    collection_id: Ident, documents: Iterable[Mapping[str, Any]]
) -> Call[list[DocumentUploaded]]:
    """``POST /collections/{id}/documents/text`` with a locally validated :class:`DocumentBatch`."""
    data = body(DocumentBatch, documents=[dict(d) for d in documents])
    path = f"{collection_documents(collection_id).path}/text"
    return Call("POST", path, parse_uploaded, json=data)


def file_parts(files: FileInput | Sequence[FileInput]) -> Files:
    """The ``files`` parts of an upload, read now; paths are named by their last component."""
    entries: Sequence[Any] = [files] if isinstance(files, str | os.PathLike) else files
    parts: Files = []
    seen: set[str] = set()
    for entry in entries:
        name, part = _part(entry)
        if name in seen:
            raise ValidationError(f"two files are named {name!r}; names must be unique")
        seen.add(name)
        parts.append(("files", part))
    if not parts:
        raise ValidationError("give at least one file")
    return parts


def _part(entry: Any) -> tuple[str, tuple[Any, ...]]:
    if isinstance(entry, str | os.PathLike):
        path = Path(entry)
        return path.name, (path.name, path.read_bytes())
    if (
        isinstance(entry, tuple)
        and len(entry) in (2, 3)
        and isinstance(entry[0], str)
        and isinstance(entry[1], bytes | bytearray | memoryview)
        and (len(entry) == 2 or isinstance(entry[2], str))
    ):
        if not entry[0]:
            raise ValidationError("every file needs a name")
        return entry[0], (entry[0], bytes(entry[1]), *entry[2:])
    raise ValidationError(
        f"{type(entry).__name__} is not a file: give a path or a (name, bytes[, mime]) tuple"
    )


def metadata_field(metadata: Mapping[str, Any]) -> str:
    """The ``metadata`` form field: one JSON object for every file, or ``{filename: object}``."""
    if not isinstance(metadata, Mapping):
        raise ValidationError("metadata must be a mapping (a JSON object)")
    try:
        return json.dumps(dict(metadata), separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"metadata is not JSON-serializable: {exc}") from None


def run_logs(run_id: Ident) -> Call[RunLogs]:
    """``GET /runs/{id}/logs``."""
    return Call("GET", f"{RUNS.item(run_id)}/logs", RunLogs.model_validate)


def cancel_run(run_id: Ident) -> Call[RunRead]:
    """``POST /runs/{id}/cancel``: the run after the request (``cancelling`` or final)."""
    return Call("POST", f"{RUNS.item(run_id)}/cancel", RunRead.model_validate)


def run_filters(kind: str | None, status: str | None, project_id: Ident | None) -> dict[str, Any]:
    """The run list filters under their query-parameter names (None: not filtered)."""
    return {"kind": kind, "status": status, "project_id": project_id}


class Poller:
    """The clock and rules of one ``runs.wait``: when to stop, how long to pause, which
    failed polls to retry. The sync and async waits only add the sleeping."""

    def __init__(
        self,
        run_id: Ident,
        *,
        timeout: float | None,
        poll: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if poll < 0:
            raise ValueError("poll must be >= 0 seconds")
        if timeout is not None and timeout < 0:
            raise ValueError("timeout must be >= 0 seconds")
        self.run_id, self.timeout, self.poll, self._clock = run_id, timeout, poll, clock
        self._deadline = None if timeout is None else clock() + timeout
        self._failures = 0
        self._status = "unknown"

    def finished(self, run: RunRead) -> bool:
        """Whether ``run`` is over and succeeded.

        Raises:
            RunFailed: it ended ``failed`` or ``cancelled``.
        """
        self._failures, self._status = 0, run.status
        if run.status not in TERMINAL:
            return False
        if run.status != "succeeded":
            raise RunFailed(run)
        return True

    def pause(self, at_least: float = 0.0) -> float:
        """Seconds to sleep before the next poll.

        Raises:
            TimeoutError: the timeout has passed.
        """
        delay = max(self.poll, at_least)
        if self._deadline is None:
            return delay
        left = self._deadline - self._clock()
        if left <= 0:
            raise TimeoutError(f"run {self.run_id} still {self._status} after {self.timeout:g}s")
        return min(delay, left)

    def retry(self, exc: RaylaneError) -> float:
        """Seconds to sleep before polling again after ``exc``.

        Raises:
            RaylaneError: ``exc`` itself when it is not transient (a 404, a 403...) or when
                too many polls in a row have failed.
            TimeoutError: the timeout has passed.
        """
        transient = isinstance(exc, APIConnectionError | ServiceUnavailable | RateLimited)
        self._failures += 1
        if not transient or self._failures > WAIT_RETRIES:
            raise exc
        wait = exc.retry_after if isinstance(exc, RateLimited) else None
        return self.pause(wait or 0.0)
