"""Ingest job: ``python -m raylane.jobs.ingest --run-id <uuid>``.

A Ray Data pipeline over the collection's new and changed documents:
read (object storage) → parse → chunk (token-aware, overlap) → embed (``map_batches`` on an
actor pool, the model loaded once per actor) → write to pgvector in bulk from the driver.

Writes are keyed by (document, chunk index, content hash, model), so a retried task, a
restarted actor or a re-run job never duplicates a row; afterwards each document keeps exactly
the chunks of its current content.
"""

from __future__ import annotations

import json
import logging
import math
import os
import uuid
from collections import defaultdict
from functools import lru_cache, partial
from typing import Any

import numpy as np

from raylane.config import get_settings
from raylane.core.collections.models import Collection, Document, DocumentStatus
from raylane.core.collections.repository import ChunkRepository, DocumentRepository
from raylane.core.collections.service import search_index_service
from raylane.core.documents.chunking import chunk_text, content_hash, load_tokenizer
from raylane.core.documents.parsing import ParsedDoc
from raylane.core.documents.sandbox import ParseFile, ParseLimits, parse_isolated_many
from raylane.errors import RaylaneError
from raylane.infra import embeddings
from raylane.infra.db.session import session_scope
from raylane.infra.storage import store_from_settings
from raylane.infra.workloads import task_resources
from raylane.jobs._base import RunContext, main

log = logging.getLogger("raylane.jobs.ingest")
# Documents per parse/chunk task: each task may start a worker process (~2 s here) and one
# sandboxed parser child, so tasks get enough documents to be worth it.
DOCS_PER_PARSE_TASK = 200


@lru_cache(maxsize=2)
def _tokenizer(model_dir: str) -> Any:
    return load_tokenizer(model_dir)


def parse_block(rows: list[dict[str, Any]]) -> list[list[ParsedDoc] | RaylaneError]:
    """A block's documents read from storage and parsed by one sandboxed child process.

    One child per block, not per document (a child costs ~70 ms to start); each document still
    parses in its own bounded grandchild and fails alone (``parse_isolated_many``). A block holds
    one collection's documents, so one tenant's.
    """
    settings = get_settings()
    store = store_from_settings(settings)
    outcomes: list[list[ParsedDoc] | RaylaneError | None] = []
    files: list[ParseFile] = []
    for row in rows:
        try:
            data = store.get(row["object_key"])
        except RaylaneError as exc:
            outcomes.append(exc)
            continue
        outcomes.append(None)
        files.append(ParseFile(data, filename=str(row["name"]), mime=row["mime"]))
    parsed = iter(parse_isolated_many(files, limits=ParseLimits.from_settings(settings)))
    return [next(parsed) if outcome is None else outcome for outcome in outcomes]


def parse_and_chunk(
    row: dict[str, Any],
    *,
    parsed: list[ParsedDoc] | RaylaneError,
    model_dir: str,
    max_tokens: int,
    overlap: int,
) -> list[dict[str, Any]]:
    """One parsed document in, its chunks out (or one row carrying the error)."""
    base = {"document_id": row["document_id"], "metadata": row["metadata"]}
    try:
        if isinstance(parsed, RaylaneError):
            raise parsed
        text = "\n\n".join(d.text for d in parsed)
        chunks = chunk_text(
            text, tokenizer=_tokenizer(model_dir), max_tokens=max_tokens, overlap=overlap
        )
    except RaylaneError as exc:
        return [
            base
            | {
                "chunk_index": -1,
                "text": "",
                "token_count": 0,
                "content_hash": "",
                "error": exc.detail,
            }
        ]
    return [
        base
        | {
            "chunk_index": c.index,
            "text": c.text,
            "token_count": c.token_count,
            "content_hash": content_hash(c.text),
            "error": "",
        }
        for c in chunks
    ]


CHUNK_COLUMNS = (
    "document_id",
    "metadata",
    "chunk_index",
    "text",
    "token_count",
    "content_hash",
    "error",
)


def parse_documents(
    batch: dict[str, np.ndarray], *, model_dir: str, max_tokens: int, overlap: int
) -> dict[str, list[Any]]:
    """A block of documents in, their chunks out, longest first.

    Batches cut from a length-sorted block hold chunks of about the same length, so the model
    wastes nothing on padding (~15% faster than document order); longest first, so the pool's
    last batches are its quickest.
    """
    docs = [{key: batch[key][i] for key in batch} for i in range(len(batch["document_id"]))]
    rows = [
        chunk
        for doc, parsed in zip(docs, parse_block(docs), strict=True)
        for chunk in parse_and_chunk(
            doc, parsed=parsed, model_dir=model_dir, max_tokens=max_tokens, overlap=overlap
        )
    ]
    rows.sort(key=lambda r: -int(r["token_count"]))
    return {column: [r[column] for r in rows] for column in CHUNK_COLUMNS}


class Embedder:
    """One model per actor process; Ray Data feeds it batches of chunks."""

    def __init__(self, model: str, threads: int, batch_size: int) -> None:
        # By name: the collection's model picks the backend (torch fp32, or ONNX int8).
        self._model = embeddings.load_named(model, get_settings(), threads)
        self._batch_size = batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ok = batch["error"] == ""
        texts = [str(t) for t in batch["text"][ok]]
        dims = self._model.get_sentence_embedding_dimension()
        vectors = np.zeros((len(batch["text"]), dims), dtype=np.float32)
        if texts:
            vectors[ok] = self._model.encode(
                texts,
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
            )
        batch["embedding"] = vectors
        return batch


async def _load(ctx: RunContext) -> tuple[Collection, list[Document]]:
    async with session_scope(organization_id=ctx.organization_id) as session:
        collection = await session.get(Collection, ctx.target_id)
        if collection is None:
            raise SystemExit(f"collection {ctx.target_id} no longer exists")
        docs = await DocumentRepository(session).needing_embedding(
            collection.id, collection.embedding_model
        )
        return collection, docs


async def ingest(ctx: RunContext) -> dict[str, Any]:
    import ray

    settings = get_settings()
    collection, docs = await _load(ctx)
    await ctx.progress(documents_total=len(docs), documents_done=0, chunks_total=0, chunks_done=0)
    if not docs:
        return {"documents": 0, "chunks": 0, "failed": 0}
    ray.init(namespace=settings.ray.namespace, ignore_reinit_error=True, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    model_dir = str(embeddings.resolve(collection.embedding_model, settings))
    resources = task_resources("embeddings")
    items = [
        {
            "document_id": str(d.id),
            "object_key": d.object_key,
            "name": d.name,
            "mime": d.mime,
            "metadata": json.dumps(d.metadata_),
        }
        for d in docs
    ]
    chunks = (
        ray.data.from_items(items, override_num_blocks=math.ceil(len(items) / DOCS_PER_PARSE_TASK))
        .map_batches(
            partial(
                parse_documents,
                model_dir=model_dir,
                max_tokens=collection.chunk_max_tokens,
                overlap=collection.chunk_overlap,
            ),
            batch_size=None,  # a whole block: its chunks are sorted together
            batch_format="numpy",
            num_cpus=0.5,
        )
        .materialize()
    )
    total = chunks.count()
    await ctx.progress(chunks_total=total)
    # A block goes to one actor whole: blocks of one batch spread the work evenly over the pool.
    by_length = chunks.repartition(target_num_rows_per_block=settings.embeddings.batch_size)
    threads = settings.embeddings.threads or int(resources["num_cpus"])
    actors = settings.embeddings.ingest_actors or _default_pool(threads, resources)
    actors = min(actors, max(1, math.ceil(total / settings.embeddings.batch_size)))
    embedded = by_length.map_batches(
        Embedder,
        fn_constructor_kwargs={
            "model": collection.embedding_model,
            "threads": threads,
            "batch_size": settings.embeddings.batch_size,
        },
        batch_size=settings.embeddings.batch_size,
        batch_format="numpy",
        concurrency=actors,
        num_cpus=resources["num_cpus"],
        resources=resources["resources"],
        # A killed actor is restarted and its batch retried; idempotent writes absorb repeats.
        max_restarts=-1,
        max_task_retries=-1,
    )
    return await _write(ctx, collection, docs, embedded, total)


def _default_pool(threads: int, options: dict[str, Any]) -> int:
    """One actor per ``threads`` CPUs of this machine, but no more than the cluster can hold at
    once: a fixed-size pool waits for every actor, so an unschedulable one would stall the run."""
    import ray

    total = ray.cluster_resources()  # type: ignore[no-untyped-call]
    need = {"CPU": options["num_cpus"], **options["resources"]}
    if "memory" in options:
        need["memory"] = options["memory"]
    fits = min((int(total.get(name, 0) // amount) for name, amount in need.items() if amount))
    return max(1, min((os.cpu_count() or 1) // threads, fits))


async def _write(
    ctx: RunContext, collection: Collection, docs: list[Document], embedded: Any, total: int
) -> dict[str, Any]:
    written: dict[str, set[tuple[int, str]]] = defaultdict(set)
    contents = {d.id: d.content_hash for d in docs}
    errors: dict[str, str] = {}
    done = 0
    # Written as each embedded batch arrives (batch_size=None: as produced), so the work left
    # after the last batch is one small write, not a backlog.
    for batch in embedded.iter_batches(batch_size=None, batch_format="numpy"):
        rows = []
        for i, doc_id in enumerate(batch["document_id"]):
            doc_id = str(doc_id)
            if batch["error"][i]:
                errors[doc_id] = str(batch["error"][i])
                continue
            key = (int(batch["chunk_index"][i]), str(batch["content_hash"][i]))
            written[doc_id].add(key)
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "organization_id": ctx.organization_id,
                    "collection_id": collection.id,
                    "document_id": uuid.UUID(doc_id),
                    "chunk_index": key[0],
                    "content_hash": key[1],
                    "model": collection.embedding_model,
                    "text": str(batch["text"][i]),
                    "token_count": int(batch["token_count"][i]),
                    "metadata": json.loads(str(batch["metadata"][i])),
                    "dimensions": collection.dimensions,
                    "embedding": batch["embedding"][i].tolist(),
                }
            )
        async with session_scope(organization_id=ctx.organization_id) as session:
            # Chunks of a document replaced or deleted since it was read are dropped.
            await ChunkRepository(session).upsert(rows, contents=contents)
        done += len(batch["document_id"])
        await ctx.progress(chunks_done=done)
    log.info("wrote %d chunks of %d documents", done, len(written))
    return await _finalize(ctx, collection, docs, written, errors, total)


async def _finalize(
    ctx: RunContext,
    collection: Collection,
    docs: list[Document],
    written: dict[str, set[tuple[int, str]]],
    errors: dict[str, str],
    total: int,
) -> dict[str, Any]:
    async with session_scope(organization_id=ctx.organization_id) as session:
        current = await DocumentRepository(session).get_many([d.id for d in docs])
        # A document deleted or replaced meanwhile is left alone: the next ingest handles it.
        settled = [
            current[d.id]
            for d in docs
            if d.id in current and current[d.id].content_hash == d.content_hash
        ]
        keep = {d.id: sorted(written[str(d.id)]) for d in settled if str(d.id) not in errors}
        await ChunkRepository(session).prune(keep, model=collection.embedding_model)
        for doc in settled:
            if doc.id in keep:
                doc.status, doc.chunk_count, doc.embedded_hash, doc.error = (
                    DocumentStatus.INGESTED,
                    len(keep[doc.id]),
                    doc.content_hash,
                    None,
                )
            else:
                doc.status, doc.error = DocumentStatus.FAILED, errors[str(doc.id)][:2000]
    # Committed: a collection now over the threshold gets its own search index (CONCURRENTLY).
    await search_index_service.refresh(
        organization_id=ctx.organization_id, collection_id=collection.id
    )
    await ctx.progress(documents_done=len(docs) - len(errors), chunks_done=total)
    return {
        "documents": len(docs) - len(errors),
        "chunks": total - len(errors),
        "failed": len(errors),
    }


if __name__ == "__main__":
    # Run the imported module's function, not __main__'s: Ray pickles the pipeline's functions
    # by reference, and workers can import raylane.jobs.ingest but not this __main__.
    from raylane.jobs import ingest as module

    main(module.ingest)
