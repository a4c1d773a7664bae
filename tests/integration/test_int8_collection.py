"""A collection on the int8 model: created, ingested by the job's own steps, searched.

No Ray here (one Ray per session lives in e2e): the ingest job's block functions and its
embedding actor class run in this process on real uploads, and rows are written as the job's
``_write`` writes them; search goes through the API, whose in-process embedder embeds the query.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg.types.json import Jsonb

from raylane.infra import embeddings
from raylane.infra.onnx_embed import OnnxEncoder
from raylane.jobs import ingest
from tests.factories import Api, Tenant
from tests.integration.chunks import chunk_row
from tests.integration.test_documents import new_collection, upload

INT8 = embeddings.BUILTIN_INT8
DOCS = {
    "bread.txt": "Knead the dough for ten minutes, then let it rise in a warm kitchen until "
    "it has doubled. Bake the loaf in a hot oven until the crust sounds hollow.",
    "ledger.txt": "The auditor compared the quarterly ledger with the bank statements and "
    "found that three invoices had been booked twice, which overstated the revenue.",
    "storm.txt": "The forecast warned of a storm front: falling pressure on the radar, heavy "
    "rainfall over the coast and gusts strong enough to close the harbour.",
}


def _ingest_in_process(conn: psycopg.Connection, tenant: Tenant, col: dict[str, Any]) -> int:
    """The job's parse → chunk → embed steps on the collection's documents; rows written."""
    docs = conn.execute(
        "SELECT id, object_key, name, mime, metadata FROM documents WHERE collection_id = %s",
        (col["id"],),
    ).fetchall()
    block = {
        "document_id": np.array([str(d[0]) for d in docs]),
        "object_key": np.array([d[1] for d in docs]),
        "name": np.array([d[2] for d in docs]),
        "mime": np.array([d[3] for d in docs]),
        "metadata": np.array([json.dumps(d[4] or {}) for d in docs]),
    }
    chunks = ingest.parse_documents(
        block,
        model_dir=str(embeddings.resolve(col["embedding_model"])),
        max_tokens=col["chunk_max_tokens"],
        overlap=col["chunk_overlap"],
    )
    assert set(chunks["error"]) == {""}
    actor = ingest.Embedder(col["embedding_model"], threads=1, batch_size=2)
    assert isinstance(actor._model, OnnxEncoder)  # the collection's model picked the backend
    batch = actor({k: np.array(v) for k, v in chunks.items()})
    register_vector(conn)
    for i, doc_id in enumerate(batch["document_id"]):
        row = chunk_row(
            organization_id=tenant.organization_id,
            collection_id=col["id"],
            document_id=str(doc_id),
            model=col["embedding_model"],
            dimensions=col["dimensions"],
            text=str(batch["text"][i]),
            embedding=batch["embedding"][i].tolist(),
            index=int(batch["chunk_index"][i]),
            content_hash=str(batch["content_hash"][i]),
        )
        conn.execute(
            "INSERT INTO chunks (id, organization_id, collection_id, document_id, chunk_index,"
            " content_hash, model, text, token_count, metadata, dimensions, embedding)"
            " VALUES (%(id)s, %(organization_id)s, %(collection_id)s, %(document_id)s,"
            " %(chunk_index)s, %(content_hash)s, %(model)s, %(text)s, %(token_count)s,"
            " %(metadata)s, %(dimensions)s, %(embedding)s)",
            row | {"metadata": Jsonb(row["metadata"]), "embedding": np.array(row["embedding"])},
        )
    return len(batch["document_id"])


async def test_int8_collection_is_ingested_and_searched(
    api: Api, org_a: Tenant, owner_conn: psycopg.Connection
) -> None:
    col = await new_collection(api, org_a, embedding_model=INT8)
    assert col["embedding_model"] == INT8 and col["dimensions"] == 384
    files = [(name, text.encode(), "text/plain") for name, text in DOCS.items()]
    r = await upload(api, org_a, col["id"], files)
    assert r.status_code in (200, 201), r.text
    assert _ingest_in_process(owner_conn, org_a, col) == len(DOCS)

    as_a = api.as_(org_a)
    for question, expected in (
        ("How long should I knead bread dough?", "bread.txt"),
        ("Which invoices were counted twice in the accounts?", "ledger.txt"),
        ("Will the harbour close because of the weather?", "storm.txt"),
    ):
        r = await as_a.post(
            f"/api/v1/collections/{col['id']}/search", json={"query": question, "top_k": 3}
        )
        assert r.status_code == 200, r.text
        hits = r.json()["hits"]
        assert hits[0]["document_name"] == expected, hits


def test_the_serve_embedder_uses_the_collections_backend() -> None:
    from raylane.serve.embedder import Embedder

    replica = Embedder.func_or_class()
    text = "The auditor compared the quarterly ledger with the bank statements."
    got = np.array(replica._encode(INT8, [text])[0])
    want = embeddings.load_named(INT8).encode([text])[0]
    assert np.allclose(got, want, atol=1e-6)
    fp32 = np.array(replica._encode(embeddings.BUILTIN, [text])[0])
    assert not np.allclose(got, fp32, atol=1e-4)  # a different backend, close but not equal
    assert float(got @ fp32) >= 0.98
