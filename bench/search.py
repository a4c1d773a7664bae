"""Vector search over many tenants' collections: recall@10, latency, and API QPS vs direct SQL.

Data: ``--vectors`` (default ~218k) synthetic 384-d unit vectors, NOT from the embedding model
(that would take hours here): a seeded mixture of Gaussian clusters with a power-law spectrum,
like sentence embeddings. Each collection draws from its own subset of the shared clusters
(tenants' topics overlap, as they do). Three organizations, one large collection (100k) and 41
between 200 and 12k rows (geometric sizes), all real rows in ``chunks`` with the platform's
schema, bulk-loaded by COPY as the owner role; then, per collection, exactly the upkeep the
ingest job's finalize step runs (``SearchIndexService.refresh``: own HNSW index over the
threshold). Held-out queries come from each collection's own distribution.

Figures:

* recall@10 of every collection through the API (Serve app, the owner key of its
  organization) vs exact top-10 within that collection from numpy: min and mean;
* p99 latency of the platform's statement (``nearest_statement``, app role, tenant set) for the
  smallest and the largest collection, vs the one-collection case: the largest collection's rows
  alone in a table of the same shape (no other tenants, no row-level security) with one plain
  HNSW index, the same statement; Ray stopped;
* QPS on the largest collection at 1 and 16 clients: ``POST /api/v1/collections/{id}/search``
  through the Serve app as ``make run`` starts it (``runtime.start_ray`` + ``deploy``), driven by
  wrk with rotating query bodies, vs direct SQL: psycopg, one connection per client thread, the
  tenant set once per connection, autocommit, the query a user would write (literal collection
  id, so its own HNSW index serves it; same columns, document name joined), Ray stopped.
  Rounds alternate the two sides.

Last line: ``search_min_recall=.. search_mean_recall=.. search_qps_ratio_c1=..
search_qps_ratio_c16=..``. Exits non-zero on a short or failed answer, or a missed goal's
correctness part (recall below 0.95 min / 0.98 mean is reported, not fatal).

    .venv/bin/python bench/search.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import (
    load_average,
    median_spread,
    platform_env,
    stop_platform_ray,
    tenant,
    wait_serve_app,
    wrk,
)

DIMS = 384
K = 10
CLIENTS = (1, 16)
COLUMNS = (
    "id, organization_id, collection_id, document_id, chunk_index, content_hash, model, text,"
    " token_count, metadata, dimensions, embedding"
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


class Mixture:
    """Shared clusters; a collection draws from a subset of them (its topics).

    Within a cluster the spread follows a power-law spectrum (variance of the j-th direction
    ~ 1/j, one random rotation) with a per-cluster scale: anisotropic, low intrinsic dimension,
    as real text embeddings are, not isotropic noise.
    """

    def __init__(self, clusters: int, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        c = self.rng.standard_normal((clusters, DIMS))
        self.centers = c / np.linalg.norm(c, axis=1, keepdims=True)
        self.scale = self.rng.uniform(0.7, 1.3, clusters)
        spectrum = 1.0 / np.sqrt(np.arange(1, DIMS + 1))
        self.spectrum = spectrum / np.linalg.norm(spectrum)
        self.rotation, _ = np.linalg.qr(self.rng.standard_normal((DIMS, DIMS)))

    def topics(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        ids = self.rng.choice(len(self.centers), size=n, replace=False)
        return ids, self.rng.dirichlet(np.full(n, 2.0))

    def draw(self, n: int, topics: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        ids, weights = topics
        labels = ids[self.rng.choice(len(ids), size=n, p=weights)]
        out = np.empty((n, DIMS), dtype=np.float32)
        for start in range(0, n, 20_000):
            lab = labels[start : start + 20_000]
            noise = (self.rng.standard_normal((len(lab), DIMS)) * self.spectrum) @ self.rotation.T
            x = self.centers[lab] + self.scale[lab, None] * noise
            out[start : start + len(lab)] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out


def sizes(large: int, mids: int, smallest: int, biggest: int) -> list[int]:
    """One large collection, then ``mids`` geometric sizes from ``smallest`` to ``biggest``."""
    return [large] + [int(x + 0.5) for x in np.geomspace(smallest, biggest, mids)]


def exact_top(data: np.ndarray, queries: np.ndarray) -> np.ndarray:
    sims = queries @ data.T
    top = np.argpartition(-sims, K, axis=1)[:, :K]
    order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def copy_rows(
    conn: Any, *, org: uuid.UUID, collection_id: uuid.UUID, vectors: np.ndarray, table: str
) -> list[uuid.UUID]:
    """One document and its chunks, in one transaction, as the ingest job's rows look."""
    from psycopg.types.json import Jsonb

    ids = [uuid.uuid4() for _ in range(len(vectors))]
    document_id = uuid.uuid4()
    meta = Jsonb({})
    with conn.transaction():
        conn.execute("SELECT set_config('raylane.org_id', %s, true)", (str(org),))
        if table == "chunks":
            conn.execute(
                "INSERT INTO documents (id, organization_id, collection_id, name, size,"
                " content_hash, mime, metadata, status, object_key, chunk_count, embedded_hash)"
                " VALUES (%s, %s, %s, 'synthetic.txt', 0, %s, 'text/plain', '{}', 'ingested',"
                " 'bench/synthetic.txt', %s, %s)",
                (document_id, org, collection_id, uuid.uuid4().hex, len(vectors), "0" * 64),
            )
        copy_sql = f"COPY {table} ({COLUMNS}) FROM STDIN (FORMAT BINARY)"
        with conn.cursor().copy(copy_sql) as copy:
            copy.set_types(COLUMN_TYPES)
            for i, v in enumerate(vectors):
                copy.write_row(
                    (
                        ids[i],
                        org,
                        collection_id,
                        document_id,
                        i,
                        f"{i:064x}",
                        "all-MiniLM-L6-v2",
                        f"synthetic chunk {i}",
                        3,
                        meta,
                        DIMS,
                        v,
                    )
                )
    return ids


def user_sql(collection_id: uuid.UUID) -> str:
    """What a competent user writes for top-10 of one collection: the id as a literal (so the
    collection's own HNSW index serves it), the columns the API returns."""
    return f"""
        SELECT h.*, d.name AS document_name FROM (
            SELECT id, document_id, chunk_index, text, metadata,
                   embedding::vector({DIMS}) <=> %(q)s AS distance
            FROM chunks
            WHERE collection_id = '{collection_id}' AND dimensions = {DIMS}
            ORDER BY embedding::vector({DIMS}) <=> %(q)s LIMIT {K}
        ) h JOIN documents d ON d.id = h.document_id ORDER BY h.distance
        """


def app_connection(org: uuid.UUID, *, session_tenant: bool, search_path: str | None = None) -> Any:
    import psycopg

    from raylane.infra.db.session import apply_session_settings
    from raylane.infra.db.urls import app_url, libpq_url

    conn = psycopg.connect(libpq_url(app_url()), autocommit=session_tenant)
    apply_session_settings(conn)
    if session_tenant:
        conn.execute("SELECT set_config('raylane.org_id', %s, false)", (str(org),))
    if search_path:
        conn.execute(f"SET search_path = {search_path}")
        conn.commit()
    return conn


def platform_query(conn: Any, org: uuid.UUID, collection_id: uuid.UUID, q: np.ndarray) -> list:
    """The platform's statement, in a transaction with the tenant set, as a request runs it."""
    from raylane.core.collections.repository import nearest_statement

    sql, params = nearest_statement(
        collection_id=collection_id, vector=q.tolist(), top_k=K, filters={}
    )
    with conn.transaction():
        conn.execute("SELECT set_config('raylane.org_id', %s, true)", (str(org),))
        rows = conn.execute(sql, params | {"q": q}).fetchall()
    return [r for r in rows if r[1] is not None]


def sql_qps(
    org: uuid.UUID, collection_id: uuid.UUID, queries: np.ndarray, clients: int, seconds: float
) -> tuple[float, float]:
    """Direct SQL: ``clients`` threads, one connection each; (queries/s, p99 ms)."""
    sql = user_sql(collection_id)
    conns = [app_connection(org, session_tenant=True) for _ in range(clients)]
    for conn in conns:  # warm: plans cached (psycopg prepares after five runs), pages hot
        for q in queries[:8]:
            assert len(conn.execute(sql, {"q": q}).fetchall()) == K
    counts = [0] * clients
    lat: list[list[float]] = [[] for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    stop = time.perf_counter() + 1e9

    def worker(i: int) -> None:
        conn = conns[i]
        n = i
        start.wait()
        while time.perf_counter() < stop:
            t = time.perf_counter()
            rows = conn.execute(sql, {"q": queries[n % len(queries)]}).fetchall()
            lat[i].append((time.perf_counter() - t) * 1000)
            if len(rows) != K:
                raise RuntimeError(f"direct SQL returned {len(rows)} rows")
            counts[i] += 1
            n += clients

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    stop = time.perf_counter() + seconds
    t0 = time.perf_counter()
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    for conn in conns:
        conn.close()
    return sum(counts) / elapsed, float(np.percentile([x for ls in lat for x in ls], 99))


def wrk_script(path: str, key: str, queries: np.ndarray) -> str:
    """A wrk Lua script POSTing the queries in turn (each connection from its own offset)."""
    bodies = [json.dumps({"vector": [round(float(x), 7) for x in q], "top_k": K}) for q in queries]
    lua = [
        "local bodies = {" + ",".join(json.dumps(b) for b in bodies) + "}",
        "local counter = 0",
        "function setup(thread) thread:set('offset', counter * 7) counter = counter + 1 end",
        "local n = 0",
        "request = function()",
        "  n = n + 1",
        "  local i = (n + (offset or 0)) % #bodies + 1",
        f'  return wrk.format("POST", "{path}", {{["Authorization"] = "Bearer {key}",'
        ' ["Content-Type"] = "application/json"}, bodies[i])',
        "end",
    ]
    fd, name = tempfile.mkstemp(suffix=".lua", prefix="search-bench-")
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lua))
    return name


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--large", type=int, default=100_000, help="rows of the large collection")
    parser.add_argument("--mids", type=int, default=41, help="collections besides the large one")
    parser.add_argument("--biggest-mid", type=int, default=12_000)
    parser.add_argument("--smallest", type=int, default=200)
    parser.add_argument("--orgs", type=int, default=3)
    parser.add_argument("--queries", type=int, default=20, help="recall queries per collection")
    parser.add_argument("--latency-queries", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=10, help="seconds per QPS point")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (>= 3)")
    parser.add_argument("--clusters", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="~30k vectors, 1 round of 3 s")
    args = parser.parse_args()
    if args.quick:
        args.large, args.biggest_mid, args.rounds, args.seconds = 15_000, 6_000, 1, 3
        args.latency_queries = 50
    print(f"start: {load_average()}", flush=True)

    mix = Mixture(args.clusters, args.seed)
    plan = sizes(args.large, args.mids, args.smallest, args.biggest_mid)
    topics = [mix.topics(60 if i == 0 else 12) for i in range(len(plan))]
    data = [mix.draw(n, t) for n, t in zip(plan, topics, strict=True)]
    queries = [
        mix.draw(max(args.queries, 64 if i == 0 else args.queries), t) for i, t in enumerate(topics)
    ]
    total = sum(plan)
    print(
        f"data: {total} synthetic vectors x {DIMS} d ({args.clusters}-cluster mixture, seed"
        f" {args.seed}), {len(plan)} collections over {args.orgs} organizations: one of"
        f" {plan[0]}, {args.mids} from {min(plan[1:])} to {max(plan[1:])}",
        flush=True,
    )

    with platform_env() as bench:
        import psycopg
        from pgvector.psycopg import register_vector

        from raylane.client import Client
        from raylane.config import get_settings
        from raylane.core.collections.service import search_index_service
        from raylane.infra import runtime
        from raylane.infra.db.session import SEARCH_INDEX_MIN_ROWS
        from raylane.infra.db.urls import libpq_url, owner_url
        from raylane.serve.deploy import deploy

        settings = get_settings()
        t0 = time.perf_counter()
        runtime.start_ray(settings)  # as `raylane up` (make run) does
        serve_url: str | None = deploy(settings)
        wait_serve_app()
        print(f"Serve app up in {time.perf_counter() - t0:.0f} s at {serve_url}", flush=True)

        orgs: list[tuple[uuid.UUID, str]] = [
            tenant(serve_url, bench.admin_key, f"search-org-{i}") for i in range(args.orgs)
        ]
        collections: list[tuple[uuid.UUID, uuid.UUID, str]] = []  # (org, collection, key)
        for i in range(len(plan)):
            org, key = orgs[i % args.orgs]
            with Client(serve_url, key) as client:
                project = client.projects.create(name=f"p{i}")
                col = client.collections.create(project.id, name=f"c{i}")
            assert col.dimensions == DIMS, col.dimensions
            collections.append((org, col.id, key))

        owner = psycopg.connect(libpq_url(owner_url()), autocommit=True)
        register_vector(owner)
        t0 = time.perf_counter()
        ids = [
            copy_rows(owner, org=org, collection_id=cid, vectors=v, table="chunks")
            for (org, cid, _), v in zip(collections, data, strict=True)
        ]
        owner.execute("ANALYZE chunks")
        owner.execute("ANALYZE documents")
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        indexed = [
            asyncio.run(search_index_service.refresh(organization_id=org, collection_id=cid))
            for org, cid, _ in collections
        ]
        build_s = time.perf_counter() - t0
        print(
            f"load: {total} rows by COPY in {load_s:.1f} s; index upkeep (as after an ingest):"
            f" {sum(indexed)} collections of >= {SEARCH_INDEX_MIN_ROWS} rows got their own"
            f" HNSW index in {build_s:.1f} s",
            flush=True,
        )
        for (_, cid, _), n, built in zip(collections, plan, indexed, strict=True):
            if built != (n >= SEARCH_INDEX_MIN_ROWS):
                sys.exit(f"collection {cid} ({n} rows): index built={built}")

        # Recall through the API, every collection, with its organization's key.
        import httpx

        recalls: list[float] = []
        api_errors = 0
        with httpx.Client(base_url=serve_url, timeout=60) as http:
            for (_org, cid, key), rows, v, qs in zip(collections, ids, data, queries, strict=True):
                truth = exact_top(v, qs[: args.queries])
                index = {str(r): n for n, r in enumerate(rows)}
                found = 0
                for q, want in zip(qs[: args.queries], truth, strict=True):
                    r = http.post(
                        f"/api/v1/collections/{cid}/search",
                        json={"vector": q.tolist(), "top_k": K},
                        headers={"Authorization": f"Bearer {key}"},
                    )
                    if r.status_code != 200 or len(r.json()["hits"]) != K:
                        api_errors += 1
                        continue
                    found += len({index[h["chunk_id"]] for h in r.json()["hits"]} & set(want))
                recalls.append(found / truth.size)
        if api_errors:
            sys.exit(f"{api_errors} search requests failed or came back short")

        # The one-collection case: the largest collection's rows alone in a table of the same
        # shape, one plain HNSW index; the platform's statement finds it first on search_path.
        large_org, large_cid, large_key = collections[0]
        owner.execute("DROP SCHEMA IF EXISTS alone CASCADE")
        owner.execute("CREATE SCHEMA alone")
        owner.execute(
            "CREATE TABLE alone.chunks (LIKE public.chunks INCLUDING DEFAULTS INCLUDING GENERATED)"
        )
        copy_rows(
            owner, org=large_org, collection_id=large_cid, vectors=data[0], table="alone.chunks"
        )
        t0 = time.perf_counter()
        owner.execute("SET maintenance_work_mem = '512MB'")
        owner.execute(
            f"CREATE INDEX ON alone.chunks USING hnsw ((embedding::vector({DIMS}))"
            " vector_cosine_ops)"
        )
        owner.execute("ANALYZE alone.chunks")
        alone_build_s = time.perf_counter() - t0
        app_role = settings.database_app_role
        owner.execute(f'GRANT USAGE ON SCHEMA alone TO "{app_role}"')
        owner.execute(f'GRANT SELECT ON alone.chunks TO "{app_role}"')

        stop_platform_ray()  # the latency and SQL sides run with the machine to themselves
        serve_url = None
        smallest = min(range(len(plan)), key=lambda i: plan[i])
        lat_paths = {
            "smallest": (collections[smallest], queries[smallest], None),
            "largest": (collections[0], queries[0], None),
            "largest alone": (collections[0], queries[0], "alone, public"),
        }
        lat: dict[str, list[float]] = {name: [] for name in lat_paths}
        conns = {
            name: app_connection(c[0], session_tenant=False, search_path=sp)
            for name, (c, _, sp) in lat_paths.items()
        }
        for _ in range(args.rounds):
            for name, ((org, cid, _), qs, _) in lat_paths.items():
                for j in range(args.latency_queries):
                    q = qs[j % len(qs)]
                    t = time.perf_counter()
                    rows = platform_query(conns[name], org, cid, q)
                    lat[name].append((time.perf_counter() - t) * 1000)
                    if len(rows) != K:
                        sys.exit(f"{name}: {len(rows)} rows")
        for conn in conns.values():
            conn.close()

        # QPS on the largest collection: Serve API vs direct SQL, rounds alternating.
        qps: dict[tuple[str, int], list[float]] = {}
        p99s: dict[tuple[str, int], list[float]] = {}
        path = f"/api/v1/collections/{large_cid}/search"
        script = wrk_script(path, large_key, queries[0][:64])
        try:
            for i in range(args.rounds):
                order = ("sql", "serve") if i % 2 == 0 else ("serve", "sql")
                for side in order:
                    if side == "sql":
                        if serve_url is not None:
                            stop_platform_ray()
                            serve_url = None
                        for c in CLIENTS:
                            rate, p99 = sql_qps(
                                large_org, large_cid, queries[0][:64], c, args.seconds
                            )
                            qps.setdefault((side, c), []).append(rate)
                            p99s.setdefault((side, c), []).append(p99)
                    else:
                        if serve_url is None:
                            runtime.start_ray(settings)
                            serve_url = deploy(settings)
                            wait_serve_app()
                        for c in CLIENTS:
                            wrk(serve_url + path, clients=c, seconds=2, headers={}, script=script)
                            got = wrk(
                                serve_url + path,
                                clients=c,
                                seconds=args.seconds,
                                headers={},
                                script=script,
                            )
                            qps.setdefault((side, c), []).append(got.rps)
                            p99s.setdefault((side, c), []).append(got.p99_ms)
                    for c in CLIENTS:
                        print(
                            f"round {i + 1} {side:<5} {c:>2} clients: {qps[(side, c)][-1]:8.1f}"
                            f" q/s  p99 {p99s[(side, c)][-1]:7.2f} ms",
                            flush=True,
                        )
        finally:
            os.unlink(script)
            if serve_url is not None:
                stop_platform_ray()
            owner.close()

    print(f"end: {load_average()}")
    print(f"\nrecall@10 per collection ({args.queries} queries each, API vs exact in numpy):")
    print(f"{'rows':>7} {'org':>3} {'index':>6} {'recall':>7}")
    by_size = sorted(range(len(plan)), key=lambda i: plan[i])
    for i in by_size:
        print(
            f"{plan[i]:>7} {i % args.orgs:>3} {'own' if indexed[i] else 'exact':>6}"
            f" {recalls[i]:>7.3f}"
        )
    min_recall, mean_recall = min(recalls), statistics.mean(recalls)
    print(f"search_min_recall={min_recall:.3f} search_mean_recall={mean_recall:.3f}")
    print(
        f"\nlatency of the platform's statement, sequential, {args.rounds} x"
        f" {args.latency_queries} queries (Ray stopped):"
    )
    p99 = {name: float(np.percentile(v, 99)) for name, v in lat.items()}
    for name, v in lat.items():
        p50 = float(np.percentile(v, 50))
        rows_n = plan[smallest] if name == "smallest" else plan[0]
        print(f"  {name:<14} ({rows_n} rows) p50 {p50:6.2f} ms  p99 {p99[name]:6.2f} ms")
    small_x = p99["smallest"] / p99["largest alone"]
    large_x = p99["largest"] / p99["largest alone"]
    print(f"search_p99_smallest_x={small_x:.2f} search_p99_largest_x={large_x:.2f} (goal <= 3)")
    print(f"  (one-collection index built in {alone_build_s:.1f} s)")
    print(f"\nQPS on the largest collection, median (min-max) of {args.rounds} rounds:")
    ratios = {}
    for c in CLIENTS:
        s, b = qps[("serve", c)], qps[("sql", c)]
        ratios[c] = statistics.median(s) / statistics.median(b)
        print(
            f"  {c:>2} clients: serve API {median_spread(s)} q/s (p99"
            f" {median_spread(p99s[('serve', c)], '.2f')} ms), direct SQL {median_spread(b)} q/s"
            f" (p99 {median_spread(p99s[('sql', c)], '.2f')} ms), ratio {ratios[c]:.2f}"
        )
    print(
        f"search_min_recall={min_recall:.3f} search_mean_recall={mean_recall:.3f}"
        f" search_qps_ratio_c1={ratios[1]:.2f} search_qps_ratio_c16={ratios[16]:.2f}"
    )


if __name__ == "__main__":
    main()
