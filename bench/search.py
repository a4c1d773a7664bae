"""Vector search: QPS and recall@10 of the search API and of direct SQL, against exact search.

N synthetic 384-d unit vectors (a seeded mixture of Gaussian clusters with a power-law
spectrum, like sentence embeddings) are bulk-loaded into one collection's chunks, the HNSW index
being maintained as rows arrive. Held-out queries from the same mixture are then answered:

* ``sql``: the statement ``ChunkRepository.nearest`` runs (built by the same function, so it is
  the same text), on one app-role connection with the tenant set, so row-level security applies;
* ``api``: ``POST /api/v1/collections/{id}/search`` with a vector, the app under plain uvicorn,
  from the standard library's ``http.client`` on one keep-alive connection: the API's cost, not
  a client library's, as the SQL side's is libpq's (bench/api.py loads the API with wrk for the
  same reason);
* ``api-httpx``: the same requests through httpx, the SDK's transport (it adds ~0.3 ms a request
  on a 2-core machine), for context;
* ``exact``: the repository's exact (index-bypassing) statement, for context.

All sequential, one query at a time, the paths taking turns over ``--rounds`` passes so that a
drift in the machine's speed reaches all of them; recall@10 is against exact top-10 by cosine
from numpy.
Last line: ``search_recall=<API recall@10>``. Goals: recall@10 >= 0.95 and API QPS >= 0.5x SQL QPS.

    .venv/bin/python bench/search.py [--vectors 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import platform_env, tenant, uvicorn_app

DIMS = 384
COPY_BATCH = 5000
COLUMNS = (
    "id",
    "organization_id",
    "collection_id",
    "document_id",
    "chunk_index",
    "content_hash",
    "model",
    "text",
    "token_count",
    "metadata",
    "dimensions",
    "embedding",
)
COLUMN_TYPES = (
    "uuid",
    "uuid",
    "uuid",
    "uuid",
    "int4",
    "varchar",
    "varchar",
    "text",
    "int4",
    "jsonb",
    "int4",
    "vector",
)


def mixture(n: int, *, clusters: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit vectors from a Gaussian mixture, and the cluster of each.

    Cluster sizes are uneven (Dirichlet weights); within a cluster the spread follows a power-law
    spectrum (variance of the j-th direction ~ 1/j, in one random rotation shared by all
    clusters) with a per-cluster scale, so neighbours are anisotropic and of low intrinsic
    dimension, as real text embeddings are, not isotropic noise.
    """
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, DIMS))
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    weights = rng.dirichlet(np.full(clusters, 2.0))
    scale = rng.uniform(0.7, 1.3, clusters)
    spectrum = 1.0 / np.sqrt(np.arange(1, DIMS + 1))
    spectrum /= np.linalg.norm(spectrum)  # total noise norm ~ scale: cos(x, center) ~ 0.7
    rotation, _ = np.linalg.qr(rng.standard_normal((DIMS, DIMS)))
    labels = rng.choice(clusters, size=n, p=weights)
    out = np.empty((n, DIMS), dtype=np.float32)
    for start in range(0, n, 20_000):
        lab = labels[start : start + 20_000]
        noise = (rng.standard_normal((len(lab), DIMS)) * spectrum) @ rotation.T
        x = centers[lab] + scale[lab, None] * noise
        out[start : start + len(lab)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out, labels


def exact_top(data: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the exact top-``k`` by cosine (unit vectors: dot product), best first."""
    sims = queries @ data.T
    top = np.argpartition(-sims, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
    top = np.take_along_axis(top, order, axis=1)
    return top, np.take_along_axis(sims, top, axis=1)


def bulk_insert(
    vectors: np.ndarray,
    *,
    organization_id: uuid.UUID,
    collection_id: uuid.UUID,
    model: str,
    streams: int,
) -> tuple[list[uuid.UUID], float, float]:
    """Chunk rows (and one document for them) as the owner role by binary COPY.

    Batches of ``COPY_BATCH`` rows, one transaction each, spread over ``streams`` connections
    (HNSW inserts are CPU-bound in the backend: one stream uses one core). The HNSW index is
    maintained as rows arrive. Returns the row ids in vector order, the seconds of the load, and
    the seconds of ANALYZE.
    """
    import psycopg
    from pgvector.psycopg import register_vector
    from psycopg.types.json import Jsonb

    from raylane.infra.db.urls import libpq_url, owner_url

    ids = [uuid.UUID(int=(1 << 122) | i) for i in range(len(vectors))]  # deterministic
    document_id = uuid.uuid4()
    conninfo = libpq_url(owner_url())
    tenant_sql = "SELECT set_config('raylane.org_id', %s, true)"
    with psycopg.connect(conninfo) as conn, conn.transaction():
        conn.execute(tenant_sql, (str(organization_id),))
        conn.execute(
            "INSERT INTO documents (id, organization_id, collection_id, name, size,"
            " content_hash, mime, metadata, status, object_key, chunk_count, embedded_hash)"
            " VALUES (%s, %s, %s, 'synthetic.txt', 0, %s, 'text/plain', '{}', 'ingested',"
            " 'bench/synthetic.txt', %s, %s)",
            (document_id, organization_id, collection_id, "0" * 64, len(vectors), "0" * 64),
        )
    copy_sql = f"COPY chunks ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    meta = Jsonb({})
    batches = list(range(0, len(vectors), COPY_BATCH))

    def load(worker: int) -> None:
        with psycopg.connect(conninfo) as conn:
            register_vector(conn)
            for start in batches[worker::streams]:
                with conn.transaction():
                    conn.execute(tenant_sql, (str(organization_id),))
                    with conn.cursor().copy(copy_sql) as copy:
                        copy.set_types(COLUMN_TYPES)
                        for i in range(start, min(start + COPY_BATCH, len(vectors))):
                            copy.write_row(
                                (
                                    ids[i],
                                    organization_id,
                                    collection_id,
                                    document_id,
                                    i,
                                    f"{i:064x}",
                                    model,
                                    f"synthetic chunk {i}",
                                    3,
                                    meta,
                                    DIMS,
                                    vectors[i],
                                )
                            )

    t0 = time.perf_counter()
    with ThreadPoolExecutor(streams) as pool:
        list(pool.map(load, range(streams)))
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("ANALYZE chunks")
        conn.execute("ANALYZE documents")
    return ids, load_s, time.perf_counter() - t0


def repository_sql(
    collection_id: uuid.UUID, probe: list[float]
) -> dict[bool, tuple[str, dict[str, Any]]]:
    """The statement ``ChunkRepository.nearest`` sends (HNSW and exact), from the same function
    the repository builds it with, so the bench runs exactly the app's SQL."""
    from raylane.core.collections.repository import nearest_statement

    return {
        exact: nearest_statement(
            collection_id=collection_id, vector=probe, top_k=10, filters={}, exact=exact
        )
        for exact in (False, True)
    }


def sql_runner(
    organization_id: uuid.UUID, statement: tuple[str, dict[str, Any]]
) -> tuple[Callable[[np.ndarray], list[uuid.UUID]], Callable[[], None]]:
    """A one-connection runner: per query, one transaction with the tenant set, then the
    statement with the query vector (a numpy array, sent in binary as the app sends its own)."""
    import psycopg
    from psycopg.rows import dict_row

    from raylane.infra.db.session import apply_session_settings
    from raylane.infra.db.urls import app_url, libpq_url

    conn = psycopg.connect(libpq_url(app_url()), row_factory=dict_row)
    apply_session_settings(conn)  # as the app's engine does for each new connection
    tenant_sql = (
        "SELECT set_config('raylane.org_id', %s, true), set_config('raylane.platform', '', true)"
    )
    org = str(organization_id)
    query_sql, params = statement

    def run(q: np.ndarray) -> list[uuid.UUID]:
        with conn.transaction():
            conn.execute(tenant_sql, (org,))
            rows = conn.execute(query_sql, params | {"q": q}).fetchall()
        return [r["id"] for r in rows if r["id"] is not None]

    return run, conn.close


def measure(
    paths: dict[str, tuple[Callable[[Any], list[uuid.UUID]], Sequence[Any]]], rounds: int
) -> dict[str, tuple[float, list[list[uuid.UUID]], list[float]]]:
    """Per path: queries per second over its inputs (sequential, ``rounds`` passes, the paths
    taking turns), the hits of the first pass and every latency (ms)."""
    hits: dict[str, list[list[uuid.UUID]]] = {name: [] for name in paths}
    lat: dict[str, list[float]] = {name: [] for name in paths}
    busy = dict.fromkeys(paths, 0.0)
    for r in range(rounds):
        for name, (fn, inputs) in paths.items():
            t0 = time.perf_counter()
            for x in inputs:
                t = time.perf_counter()
                got = fn(x)
                lat[name].append((time.perf_counter() - t) * 1000)
                if r == 0:
                    hits[name].append(got)
            busy[name] += time.perf_counter() - t0
    return {name: (len(lat[name]) / busy[name], hits[name], lat[name]) for name in paths}


def recall(hits: list[list[uuid.UUID]], index: dict[uuid.UUID, int], truth: np.ndarray) -> float:
    k = truth.shape[1]
    found = sum(
        len({index[h] for h in got[:k]} & set(want))
        for got, want in zip(hits, truth.tolist(), strict=True)
    )
    return found / truth.size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--streams", type=int, default=os.cpu_count() or 1, help="parallel COPY connections"
    )
    parser.add_argument(
        "--exact-queries", type=int, default=50, help="queries timed on the exact path (slow)"
    )
    parser.add_argument("--warmup", type=int, default=50, help="untimed queries per path first")
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the queries")
    args = parser.parse_args()
    k = 10

    load_start = os.getloadavg()[0]
    t0 = time.perf_counter()
    allv, _ = mixture(args.vectors + args.queries, clusters=args.clusters, seed=args.seed)
    data, queries = allv[: args.vectors], allv[args.vectors :]
    truth, truth_sims = exact_top(data, queries, k)
    gen_s = time.perf_counter() - t0
    q_json = [json.dumps({"vector": q.tolist(), "top_k": k}).encode() for q in queries]

    with platform_env() as bench, uvicorn_app(bench.env) as url:
        import httpx

        from raylane.client import Client

        org_id, owner_key = tenant(url, bench.admin_key, "search-bench")
        with Client(url, owner_key) as client:
            project = client.projects.create(name="search-bench")
            collection = client.collections.create(project.id, name="vectors")
        assert collection.dimensions == DIMS, collection.dimensions
        ids, insert_s, analyze_s = bulk_insert(
            data,
            organization_id=org_id,
            collection_id=collection.id,
            model=collection.embedding_model,
            streams=args.streams,
        )
        index = {row_id: i for i, row_id in enumerate(ids)}
        statements = repository_sql(collection.id, queries[0].tolist())
        hnsw_run, hnsw_close = sql_runner(org_id, statements[False])
        exact_run, exact_close = sql_runner(org_id, statements[True])
        headers = {"Authorization": f"Bearer {owner_key}", "Content-Type": "application/json"}
        split = urlsplit(url)
        conn = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port, timeout=60)
        sdk_http = httpx.Client(base_url=url, headers=headers, timeout=60)
        path = f"/api/v1/collections/{collection.id}/search"

        def call(method: str, target: str, body: bytes | None = None) -> Any:
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            if response.status != 200:
                raise RuntimeError(f"{method} {target}: {response.status} {payload[:300]!r}")
            return json.loads(payload)

        def api(body: bytes) -> list[uuid.UUID]:
            return [uuid.UUID(h["chunk_id"]) for h in call("POST", path, body)["hits"]]

        def api_httpx(body: bytes) -> list[uuid.UUID]:
            r = sdk_http.post(path, content=body)
            r.raise_for_status()
            return [uuid.UUID(h["chunk_id"]) for h in r.json()["hits"]]

        def api_get(_: object) -> list[uuid.UUID]:
            # The same auth, rate limit and tenant transaction, one primary-key read: a floor.
            call("GET", f"/api/v1/collections/{collection.id}")
            return []

        try:
            for i in range(min(args.warmup, args.queries)):
                hnsw_run(queries[i])
                api(q_json[i])
                api_httpx(q_json[i])
            results = measure(
                {
                    "sql": (hnsw_run, queries),
                    "api": (api, q_json),
                    "api-httpx": (api_httpx, q_json),
                    "api-get": (api_get, queries),
                },
                args.rounds,
            )
            results |= measure({"exact": (exact_run, queries[: args.exact_queries])}, 1)
        finally:
            conn.close()
            sdk_http.close()
            hnsw_close()
            exact_close()

    print(
        f"data: {args.vectors} vectors x {DIMS} d, {args.clusters}-cluster mixture, seed"
        f" {args.seed}; {args.queries} held-out queries (generated + ground truth in {gen_s:.1f} s)"
    )
    print(f"host load average {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at the end")
    print(
        f"true neighbours: mean cosine top-1 {truth_sims[:, 0].mean():.3f},"
        f" top-{k} {truth_sims[:, -1].mean():.3f}"
    )
    print(
        f"insert: {args.vectors} rows by COPY ({COPY_BATCH}-row transactions over"
        f" {args.streams} connections), HNSW index maintained: {insert_s:.1f} s"
        f" ({args.vectors / insert_s:.0f} rows/s); ANALYZE {analyze_s:.1f} s"
    )
    print(f"\n{'path':<10} {'QPS':>8} {'p50 ms':>8} {'p99 ms':>8} {'recall@10':>10}")
    recalls = {}
    for name, (qps, hits, lat) in results.items():
        p50, p99 = np.percentile(lat, [50, 99])
        if name == "api-get":
            print(f"{name:<10} {qps:>8.1f} {p50:>8.2f} {p99:>8.2f} {'-':>10}")
            continue
        recalls[name] = recall(hits, index, truth[: len(hits)])
        print(f"{name:<10} {qps:>8.1f} {p50:>8.2f} {p99:>8.2f} {recalls[name]:>10.3f}")
    print(
        "(sql: the repository's HNSW statement on one app-role connection; api: POST .../search"
        " over http.client; api-httpx: the same over httpx; api-get: GET /collections/{id} over"
        f" http.client, the API's per-request floor; {args.rounds} passes each, taking turns;"
        f" exact: index bypassed, first {min(args.exact_queries, args.queries)} queries, once)"
    )
    print(f"\napi_qps={results['api'][0]:.1f}")
    print(f"sql_qps={results['sql'][0]:.1f}")
    print(f"api_over_sql_qps={results['api'][0] / results['sql'][0]:.2f}")
    print(f"sql_recall={recalls['sql']:.3f}")
    print(f"search_recall={recalls['api']:.3f}")


if __name__ == "__main__":
    main()
