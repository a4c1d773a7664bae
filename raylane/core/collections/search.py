"""Search a collection: vector (HNSW, cosine) or hybrid (vector + full-text, fused by RRF)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.collections.repository import ChunkRepository
from raylane.core.collections.service import collection_service
from raylane.core.ports import Embed
from raylane.errors import InvalidInput, NotFound
from raylane.infra.db.session import HNSW_EF_SEARCH

RRF_K = 60  # the usual reciprocal-rank-fusion constant: damps the weight of the very top ranks


@dataclass(frozen=True, slots=True)
class Hit:
    """One chunk that answered a search, with its score (higher is better)."""

    chunk_id: uuid.UUID
    document_id: uuid.UUID
    document_name: str
    chunk_index: int
    text: str
    score: float
    metadata: dict[str, Any]


def _hit(row: Any, score: float) -> Hit:
    return Hit(
        chunk_id=row["id"],
        document_id=row["document_id"],
        document_name=row["document_name"],
        chunk_index=row["chunk_index"],
        text=row["text"],
        score=score,
        metadata=row["metadata"],
    )


def rrf(*rankings: list[Any], k: int = RRF_K) -> list[tuple[Any, float]]:
    """Reciprocal rank fusion of several best-first lists of rows (keyed by ``id``)."""
    scores: dict[Any, float] = {}
    rows: dict[Any, Any] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking, start=1):
            scores[row["id"]] = scores.get(row["id"], 0.0) + 1.0 / (k + rank)
            rows.setdefault(row["id"], row)
    order = sorted(scores, key=lambda i: scores[i], reverse=True)
    return [(rows[i], scores[i]) for i in order]


class SearchService:
    async def search(
        self,
        session: AsyncSession,
        *,
        collection_id: uuid.UUID,
        query: str | None,
        vector: list[float] | None,
        top_k: int,
        filters: dict[str, Any],
        mode: str,
        embed: Embed,
        ef_search: int = HNSW_EF_SEARCH,
    ) -> list[Hit]:
        """Best chunks of one collection of the caller's organization.

        Raises:
            NotFound: the collection is not the caller's (same as a missing one).
            InvalidInput: a vector of the wrong width.
        """
        if vector is None:  # a text query: the collection's model embeds it
            assert query is not None
            collection = await collection_service.get(session, collection_id=collection_id)
            vector = await embed(collection.embedding_model, query)
        repo = ChunkRepository(session)
        pool = top_k * 4 if mode == "hybrid" else top_k

        async def nearest(exact: bool) -> tuple[int | None, list[Any]]:
            return await repo.nearest(
                collection_id=collection_id,
                vector=vector,
                top_k=pool,
                filters=filters,
                ef_search=max(ef_search, pool),
                exact=exact,
            )

        dimensions, dense = await nearest(
            exact=False
        )  # the collection is checked in the same query
        if dimensions is None:
            raise NotFound("collection", collection_id)
        if len(vector) != dimensions:
            raise InvalidInput(
                f"vector has {len(vector)} dimensions; the collection's model has {dimensions}"
            )
        if len(dense) < pool:
            # A collection's own index applies metadata filters after its scan: a filtered
            # search can come back short, and then goes exact.
            _, dense = await nearest(exact=True)
        if mode != "hybrid":
            return [_hit(r, 1.0 - float(r["distance"])) for r in dense[:top_k]]
        assert query is not None
        sparse = await repo.full_text(
            collection_id=collection_id, query=query, limit=pool, filters=filters
        )
        return [_hit(row, score) for row, score in rrf(dense, sparse)[:top_k]]


search_service = SearchService()
