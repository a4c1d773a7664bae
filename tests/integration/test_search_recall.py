"""Vector search keeps its recall when many collections of several tenants share ``chunks``.

A small collection of one organization sits beside a ten-times larger one of another, vectors
from one clustered mixture (so their neighbourhoods interleave, as tenants' documents on similar
topics do). Recall@10 through the API is checked against exact top-10 from numpy; a collection
over the threshold gets its own HNSW index, its plan uses it, and deleting the collection drops
it. Rows are bulk-loaded as the ingest job would write them (no Ray here).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector
from psycopg.types.json import Jsonb

from raylane.core.collections.repository import nearest_statement, search_index_name
from raylane.core.collections.service import search_index_service
from raylane.infra.db.session import apply_session_settings
from raylane.infra.db.urls import app_url, libpq_url
from tests.factories import Api, Tenant

DIMS = 384
K = 10
SMALL, LARGE = 1500, 15000
QUERIES = 40


def clustered(n: int, rng: np.random.Generator, centers: np.ndarray) -> np.ndarray:
    """Unit vectors around shared cluster centres (a low-rank spread, like text embeddings)."""
    basis = rng.standard_normal((32, DIMS)) / np.sqrt(32)
    labels = rng.integers(0, len(centers), n)
    x = centers[labels] + 0.9 * rng.standard_normal((n, 32)) @ basis
    x += 0.05 * rng.standard_normal((n, DIMS))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@dataclass
class Loaded:
    tenant: Tenant
    collection_id: str
    ids: list[uuid.UUID]
    vectors: np.ndarray


async def _collection(api: Api, tenant: Tenant) -> str:
    as_ = api.as_(tenant)
    r = await as_.post("/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex[:8]}"})
    assert r.status_code == 201, r.text
    r = await as_.post(
        f"/api/v1/projects/{r.json()['id']}/collections",
        json={"name": f"c-{uuid.uuid4().hex[:8]}"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["dimensions"] == DIMS
    return str(r.json()["id"])


async def _load(api: Api, owner: psycopg.Connection, tenant: Tenant, vectors: np.ndarray) -> Loaded:
    """A collection whose one document has ``vectors`` as its chunks (COPY, as the owner)."""
    collection_id = await _collection(api, tenant)
    r = await api.as_(tenant).post(
        f"/api/v1/collections/{collection_id}/documents",
        files=[("files", ("d.txt", b"some words", "text/plain"))],
    )
    assert r.status_code in (200, 201), r.text
    document = r.json()[0]["document"]
    ids = [uuid.uuid4() for _ in range(len(vectors))]
    register_vector(owner)
    columns = (
        "id, organization_id, collection_id, document_id, chunk_index, content_hash, model,"
        " text, token_count, metadata, dimensions, embedding"
    )
    with owner.transaction(), owner.cursor().copy(f"COPY chunks ({columns}) FROM STDIN") as copy:
        for i, v in enumerate(vectors):
            copy.write_row(
                (
                    ids[i],
                    tenant.organization_id,
                    collection_id,
                    document["id"],
                    i,
                    document["content_hash"],
                    "all-MiniLM-L6-v2",
                    f"chunk {i}",
                    2,
                    Jsonb({}),
                    DIMS,
                    v,
                )
            )
    owner.execute("ANALYZE chunks")
    return Loaded(tenant, collection_id, ids, vectors)


@pytest.fixture(scope="module")
def mixture() -> tuple[np.random.Generator, np.ndarray]:
    rng = np.random.default_rng(11)
    centers = rng.standard_normal((40, DIMS))
    return rng, centers / np.linalg.norm(centers, axis=1, keepdims=True)


@pytest.fixture(scope="module")
async def shared_table(
    api: Api, platform_admin: Tenant, owner_conn: psycopg.Connection, mixture: Any
) -> tuple[Loaded, Loaded, np.ndarray]:
    """Organization A's small collection beside organization B's ten-times larger one."""
    rng, centers = mixture
    a, b = await api.new_tenant(platform_admin), await api.new_tenant(platform_admin)
    large = await _load(api, owner_conn, b, clustered(LARGE, rng, centers))
    small = await _load(api, owner_conn, a, clustered(SMALL, rng, centers))
    return small, large, clustered(QUERIES, rng, centers)


async def _recall(api: Api, loaded: Loaded, queries: np.ndarray) -> float:
    truth = np.argsort(-(queries @ loaded.vectors.T), axis=1)[:, :K]
    index = {str(i): n for n, i in enumerate(loaded.ids)}
    found = 0
    for q, want in zip(queries, truth, strict=True):
        r = await api.as_(loaded.tenant).post(
            f"/api/v1/collections/{loaded.collection_id}/search",
            json={"vector": q.tolist(), "top_k": K},
        )
        assert r.status_code == 200, r.text
        got = {index[h["chunk_id"]] for h in r.json()["hits"]}
        assert len(got) == K
        found += len(got & set(want.tolist()))
    return found / truth.size


def _plan(loaded: Loaded, query: np.ndarray, *, generic: bool = False) -> str:
    """The plan of the search statement, as the app role with the tenant set; ``generic``:
    the plan a prepared statement switches to after its fifth run."""
    sql, params = nearest_statement(
        collection_id=uuid.UUID(loaded.collection_id),
        vector=query.tolist(),
        top_k=K,
        filters={},
    )
    with psycopg.connect(libpq_url(app_url())) as conn:
        apply_session_settings(conn)
        conn.execute(
            "SELECT set_config('raylane.org_id', %s, true)", (loaded.tenant.organization_id,)
        )
        if generic:  # Postgres 16: the plan with the parameters left unbound
            text = sql.replace("%(q)s", "$1::vector").replace("%(k)s", "$2::int")
            rows = conn.execute(f"EXPLAIN (GENERIC_PLAN) {text}").fetchall()
        else:
            rows = conn.execute(f"EXPLAIN {sql}", params).fetchall()
    return "\n".join(r[0] for r in rows)


def _index_state(owner: psycopg.Connection, collection_id: str) -> bool | None:
    row = owner.execute(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
        (search_index_name(uuid.UUID(collection_id)),),
    ).fetchone()
    return None if row is None else bool(row[0])


async def test_a_small_collection_in_a_much_larger_table_has_full_recall(
    api: Api, shared_table: tuple[Loaded, Loaded, np.ndarray]
) -> None:
    small, _, queries = shared_table
    # Below the threshold: exact over the collection's own rows, whatever else the table holds.
    assert await _recall(api, small, queries) == 1.0


async def test_a_collection_over_the_threshold_gets_its_own_index_and_uses_it(
    api: Api, shared_table: tuple[Loaded, Loaded, np.ndarray], owner_conn: psycopg.Connection
) -> None:
    small, large, queries = shared_table
    assert "chunks_c_" not in _plan(large, queries[0])  # none yet: exact, through the b-tree
    org = uuid.UUID(large.tenant.organization_id)
    built = await search_index_service.refresh(
        organization_id=org, collection_id=uuid.UUID(large.collection_id), min_rows=LARGE
    )
    assert built and _index_state(owner_conn, large.collection_id) is True
    name = search_index_name(uuid.UUID(large.collection_id))
    assert f"Index Scan using {name}" in _plan(large, queries[0])
    # A prepared statement's generic plan still proves the partial index's predicate.
    assert f"Index Scan using {name}" in _plan(large, queries[0], generic=True)
    assert await _recall(api, large, queries) >= 0.95
    # The smaller collection is under the threshold: no index, and its plan does not borrow B's.
    small_built = await search_index_service.refresh(
        organization_id=uuid.UUID(small.tenant.organization_id),
        collection_id=uuid.UUID(small.collection_id),
        min_rows=LARGE,
    )
    assert not small_built and _index_state(owner_conn, small.collection_id) is None
    assert "chunks_c_" not in _plan(small, queries[0])
    assert await _recall(api, small, queries) == 1.0


async def test_another_tenant_cannot_see_build_or_drop_the_index(
    api: Api, shared_table: tuple[Loaded, Loaded, np.ndarray], owner_conn: psycopg.Connection
) -> None:
    small, large, queries = shared_table
    a_id, b_id = uuid.UUID(small.collection_id), uuid.UUID(large.collection_id)
    await search_index_service.refresh(
        organization_id=uuid.UUID(large.tenant.organization_id), collection_id=b_id, min_rows=1
    )
    assert _index_state(owner_conn, large.collection_id) is True
    as_a = api.as_(small.tenant)
    body = {"vector": queries[0].tolist(), "top_k": K}
    r = await as_a.post(f"/api/v1/collections/{large.collection_id}/search", json=body)
    assert r.status_code == 404 and r.json()["error"] == "not_found", r.text
    assert (await as_a.delete(f"/api/v1/collections/{large.collection_id}")).status_code == 404
    assert _index_state(owner_conn, large.collection_id) is True
    # A's upkeep naming B's collection finds nothing under A's tenant: no index is built.
    built = await search_index_service.refresh(
        organization_id=uuid.UUID(small.tenant.organization_id), collection_id=b_id, min_rows=1
    )
    assert built is False
    built = await search_index_service.refresh(
        organization_id=uuid.UUID(large.tenant.organization_id), collection_id=a_id, min_rows=1
    )
    assert built is False and _index_state(owner_conn, small.collection_id) is None
    # A's own hits never include B's chunks, indexed or not.
    r = await as_a.post(f"/api/v1/collections/{small.collection_id}/search", json=body)
    assert {h["chunk_id"] for h in r.json()["hits"]} <= {str(i) for i in small.ids}


async def test_deleting_the_collection_drops_its_index(
    api: Api,
    platform_admin: Tenant,
    owner_conn: psycopg.Connection,
    mixture: Any,
) -> None:
    rng, centers = mixture
    tenant = await api.new_tenant(platform_admin)
    loaded = await _load(api, owner_conn, tenant, clustered(300, rng, centers))
    collection_id = uuid.UUID(loaded.collection_id)
    org = uuid.UUID(tenant.organization_id)
    assert await search_index_service.refresh(
        organization_id=org, collection_id=collection_id, min_rows=300
    )
    assert _index_state(owner_conn, loaded.collection_id) is True
    r = await api.as_(tenant).delete(f"/api/v1/collections/{loaded.collection_id}")
    assert r.status_code == 204, r.text
    assert _index_state(owner_conn, loaded.collection_id) is None


async def test_an_index_left_behind_is_swept(
    api: Api, platform_admin: Tenant, owner_conn: psycopg.Connection, mixture: Any
) -> None:
    """A drop that could not run (no owner role reachable, a build holding the table) is done
    by the next upkeep."""
    rng, centers = mixture
    tenant = await api.new_tenant(platform_admin)
    loaded = await _load(api, owner_conn, tenant, clustered(300, rng, centers))
    collection_id = uuid.UUID(loaded.collection_id)
    org = uuid.UUID(tenant.organization_id)
    assert await search_index_service.refresh(
        organization_id=org, collection_id=collection_id, min_rows=300
    )
    owner_conn.execute("SELECT set_config('raylane.org_id', %s, false)", (str(org),))
    owner_conn.execute("DELETE FROM collections WHERE id = %s", (loaded.collection_id,))
    owner_conn.execute("SELECT set_config('raylane.org_id', '', false)")
    assert _index_state(owner_conn, loaded.collection_id) is True
    assert await search_index_service.drop_orphans() >= 1
    assert _index_state(owner_conn, loaded.collection_id) is None


async def test_reconcile_builds_what_is_due_across_tenants_once(
    api: Api, platform_admin: Tenant, owner_conn: psycopg.Connection, mixture: Any
) -> None:
    """What `raylane db reindex` runs after an upgrade from the shared index: every collection
    over the threshold, of any tenant, gets its index; a second pass builds nothing new."""
    rng, centers = mixture
    first, second = await api.new_tenant(platform_admin), await api.new_tenant(platform_admin)
    a = await _load(api, owner_conn, first, clustered(300, rng, centers))
    b = await _load(api, owner_conn, second, clustered(300, rng, centers))
    assert _index_state(owner_conn, a.collection_id) is None
    assert _index_state(owner_conn, b.collection_id) is None
    assert await search_index_service.reconcile(min_rows=300) >= 2
    assert _index_state(owner_conn, a.collection_id) is True
    assert _index_state(owner_conn, b.collection_id) is True
    assert await search_index_service.reconcile(min_rows=300) == 0
