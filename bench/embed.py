"""Ingest throughput: the platform's ingest run vs the best plain sentence-transformers program.

A seeded synthetic corpus of English-like documents is sized so that chunking it with the
platform's parser and chunker (the very code the ingest job runs, same tokenizer and settings)
gives about ``--chunks`` chunks; the bench checks that every platform run wrote exactly those.

Baselines (Ray, Serve, Postgres and Redis all stopped while they run; model load and pool start
excluded), each a plain program a competent user would write with the whole machine:

* ``encode``: ``SentenceTransformer.encode(all_chunks, batch_size=64)`` with every torch
  thread (it sorts the texts by length itself);
* ``multi-process``: sentence-transformers' multi-process pool, one process per core with one
  torch thread each (``start_multi_process_pool`` + ``encode(..., pool=pool)``; the
  ``encode_multi_process`` name is deprecated in 6.x and calls the same thing).

The platform is compared with the FASTER baseline of each round.

Platform: ``make run``'s shape (local Ray head, the Serve app, the RunReconciler) with shipped
defaults; per round, one collection per model, whose documents were uploaded before any timing;
timed from ``POST /collections/{id}/ingest`` until the run reads ``succeeded`` (polled every
0.2 s): job submission, driver start, Ray Data, parse sandbox, model load in each actor, pgvector
writes. ``fp32`` is the default model (``all-MiniLM-L6-v2``), ``int8`` the same model through ONNX
Runtime with dynamic int8 quantization (``all-MiniLM-L6-v2-int8``).

The int8 model file is made (exported and quantized, ~3 s on an idle machine) once in the
set-up, as the first use on a node would, and cached under the data dir; no round pays for it.

Rounds alternate: platform (fp32, int8), then everything stopped and both baselines, ``--rounds``
times; each figure is the median with its min-max spread.

Quality: ``--queries`` chunk texts are held out of the index; recall@10 of int8 exact search
(int8 query vector over int8 chunk vectors) against fp32 exact search, both by brute force.

Last line: ``embed_ratio=<fastest baseline s / platform fp32 s> embed_int8_speedup=<fastest
baseline s / platform int8 s> int8_recall_at_10=<r>`` (medians). Goals: >= 0.8, >= 2, >= 0.97.
Exit status 1 on a mismatch (chunk count, failed documents) or recall under 0.97.

    .venv/bin/python bench/embed.py [--chunks 2000] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import platform_env, start_platform, stop_platform, tenant

INT8 = "all-MiniLM-L6-v2-int8"


def _words(text: str) -> list[str]:
    return text.split()


# A small English-like grammar: topical nouns per domain, shared verbs, adjectives and glue.
DOMAINS: dict[str, list[str]] = {
    "finance": _words(
        "budget invoice ledger auditor portfolio dividend loan interest rate account forecast"
        " revenue margin expense payroll bond equity lender quarter balance"
    ),
    "cooking": _words(
        "onion sauce oven recipe garlic butter flour kitchen pan broth dough spice tomato knife"
        " pastry salad skillet vinegar basil lemon"
    ),
    "biology": _words(
        "cell protein enzyme membrane gene species tissue organism nucleus bacteria virus"
        " receptor molecule habitat fungus leaf root sample culture mutation"
    ),
    "software": _words(
        "server database query cache compiler function module request thread queue container"
        " deployment library interface latency endpoint schema index cluster log"
    ),
    "history": _words(
        "empire treaty dynasty merchant harbor fortress council monarch rebellion chronicle"
        " province colony archive senate pilgrim manuscript border coin guild army"
    ),
    "travel": _words(
        "train station passport luggage island museum ferry hostel airport valley coastline"
        " itinerary guide village market bridge cathedral trail map ticket"
    ),
    "medicine": _words(
        "patient clinic dose symptom therapy nurse vaccine diagnosis surgeon ward infection"
        " prescription trial fever allergy scan pharmacy recovery wound pulse"
    ),
    "weather": _words(
        "storm cloud rainfall forecast humidity breeze frost drought season glacier monsoon"
        " pressure radar thunder fog heatwave satellite current tide snowfall"
    ),
}
ADJECTIVES = _words(
    "new old careful quiet modern early local small large simple complex steady rare common"
    " bright hidden public private remote central typical unusual gradual sudden"
)
VERBS = _words(
    "improves reduces requires supports changes describes protects measures replaces follows"
    " affects shapes records limits explains reveals connects delays extends prepares"
)
ADVERBS = _words("often rarely quickly slowly usually gradually clearly carefully briefly")
OPENERS = (
    "In most cases,",
    "According to the report,",
    "Over the last decade,",
    "For this reason,",
    "At the same time,",
    "As a rule,",
    "In practice,",
    "By contrast,",
    "After a long delay,",
    "Not surprisingly,",
)
NAMES = _words("Ada Bruno Chen Dara Elena Farid Greta Hiro Ines Jonas Kemal Lena Mateo Nora")


class Corpus:
    """Deterministic English-like documents (titles, paragraphs, sentences) from one seed."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def _np(self, nouns: list[str]) -> str:
        r = self.rng
        noun = r.choice(nouns)
        match r.randrange(5):
            case 0:
                return f"the {r.choice(ADJECTIVES)} {noun}"
            case 1:
                return f"the {noun} of the {r.choice(nouns)}"
            case 2:
                return f"{r.choice(NAMES)}'s {noun}"
            case 3:
                return f"every {noun}"
            case _:
                adj = r.choice(ADJECTIVES)
                return f"{'an' if adj[0] in 'aeiou' else 'a'} {adj} {noun}"

    def sentence(self, nouns: list[str]) -> str:
        r = self.rng
        parts = []
        if r.random() < 0.3:
            parts.append(r.choice(OPENERS))
        parts.append(self._np(nouns))
        if r.random() < 0.3:
            parts.append(r.choice(ADVERBS))
        parts += [r.choice(VERBS), self._np(nouns)]
        match r.randrange(4):
            case 0:
                parts.append(f"in {r.randint(1850, 2024)}")
            case 1:
                parts.append(f"by about {r.randint(2, 95)} percent")
            case 2:
                parts.append(f"when {self._np(nouns)} {r.choice(VERBS)} {self._np(nouns)}")
        text = " ".join(parts)
        text = text[0].upper() + text[1:]
        return text + ("?" if r.random() < 0.05 else ".")

    def document(self, paragraphs: int) -> tuple[str, list[str]]:
        """A title line and ``paragraphs`` paragraphs of 4 to 12 sentences on one domain."""
        r = self.rng
        domain = r.choice(sorted(DOMAINS))
        nouns = DOMAINS[domain]
        title = f"# Notes on the {r.choice(ADJECTIVES)} {r.choice(nouns)} ({domain})"
        paras = [
            " ".join(self.sentence(nouns) for _ in range(r.randint(4, 12)))
            for _ in range(paragraphs)
        ]
        return title, paras


def chunk_texts(
    data: bytes, name: str, *, tokenizer: Any, max_tokens: int, overlap: int
) -> list[str]:
    """The chunk texts the ingest job makes of one uploaded file (same parser and chunker)."""
    from raylane.core.documents.chunking import chunk_text
    from raylane.core.documents.parsing import parse

    text = "\n\n".join(d.text for d in parse(data, filename=name, mime="text/plain"))
    return [
        c.text
        for c in chunk_text(text, tokenizer=tokenizer, max_tokens=max_tokens, overlap=overlap)
    ]


def build_corpus(
    target: int, *, seed: int, tokenizer: Any, max_tokens: int, overlap: int
) -> tuple[list[tuple[str, bytes]], list[str]]:
    """Documents whose chunks add up to ``target`` (or just past it): (files, chunk texts)."""
    corpus = Corpus(seed)
    files: list[tuple[str, bytes]] = []
    chunks: list[str] = []
    while len(chunks) < target:
        title, paras = corpus.document(corpus.rng.randint(6, 14))
        name = f"doc-{len(files):04d}.txt"
        data = "\n\n".join([title, *paras]).encode()
        got = chunk_texts(data, name, tokenizer=tokenizer, max_tokens=max_tokens, overlap=overlap)
        if len(chunks) + len(got) > target:  # the last document: stop once the target is met
            for n in range(1, len(paras) + 1):
                data = "\n\n".join([title, *paras[:n]]).encode()
                got = chunk_texts(
                    data, name, tokenizer=tokenizer, max_tokens=max_tokens, overlap=overlap
                )
                if len(chunks) + len(got) >= target:
                    break
        files.append((name, data))
        chunks += got
    return files, chunks


def median_spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def baseline_encode(model: Any, texts: list[str]) -> tuple[float, Any]:
    """``encode(all_chunks, batch_size=64)`` with every torch thread: (seconds, vectors)."""
    t0 = time.perf_counter()
    vectors = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    return time.perf_counter() - t0, vectors


def baseline_pool(model: Any, pool: Any, texts: list[str]) -> float:
    """The multi-process pool (one process per core, one thread each): seconds."""
    t0 = time.perf_counter()
    model.encode(texts, pool=pool, batch_size=64, normalize_embeddings=True)
    return time.perf_counter() - t0


def ray_data_stages(logs: str) -> list[tuple[str, float]]:
    """(last operator, seconds) of each Ray Data execution the job's log reports, in order."""
    plans = dict(re.findall(r"Execution plan of Dataset (\S+): .*-> (\S+)\s*$", logs, re.M))
    return [
        (plans.get(ds, ds), float(sec))
        for ds, sec in re.findall(r"Dataset (\S+) execution finished in ([\d.]+) seconds", logs)
    ]


class Failed(Exception):
    """A correctness problem: the bench exits non-zero."""


def ingest(client: Any, collection_id: Any, expected: int, timeout: float) -> tuple[float, str]:
    """POST ingest → run ``succeeded``: (seconds, job log). Checks every chunk was written."""
    from raylane.client import RunFailed

    t0 = time.perf_counter()
    run = client.collections.ingest(collection_id)
    try:
        run = client.runs.wait(run.id, timeout=timeout, poll=0.2)
    except (RunFailed, TimeoutError):
        print(client.runs.logs(run.id).logs[-5000:], file=sys.stderr)
        raise
    seconds = time.perf_counter() - t0
    logs = client.runs.logs(run.id).logs
    written = sum(d.chunk_count for d in client.documents.iter(collection_id))
    done, failed = int(run.result.get("chunks", -1)), int(run.result.get("failed", -1))
    if done != expected or written != expected or failed != 0:
        raise Failed(
            f"collection {collection_id}: run wrote {done} chunks ({failed} documents failed),"
            f" {written} chunk rows counted, {expected} expected"
        )
    return seconds, logs


def recall_at_10(
    chunks: list[str], fp32: Any, int8: Any, queries: int, seed: int
) -> tuple[float, int]:
    """Recall@10 of int8 exact search against fp32 exact search, held-out chunk texts as queries.

    Index vectors are embedded in batches (as ingest does), each query alone (as search does).
    Returns (recall, number of queries).
    """
    import numpy as np

    rng = random.Random(seed)
    held = set(rng.sample(range(len(chunks)), min(queries, len(chunks) // 5)))
    index = [c for i, c in enumerate(chunks) if i not in held]
    asks = [chunks[i] for i in sorted(held)]
    tops = []
    for encoder in (fp32, int8):
        vectors = np.asarray(
            encoder.encode(index, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        )
        q = np.stack(
            [
                np.asarray(encoder.encode([a], normalize_embeddings=True, convert_to_numpy=True))[0]
                for a in asks
            ]
        )
        tops.append(np.argsort(-(q @ vectors.T), axis=1)[:, :10])
    hits = [len(set(a) & set(b)) / 10 for a, b in zip(*tops, strict=True)]
    return float(np.mean(hits)), len(asks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=200, help="held-out queries for recall")
    parser.add_argument("--quick", action="store_true", help="300 chunks, 3 rounds")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--logs", action="store_true", help="print each job's log to stderr")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for a run")
    args = parser.parse_args()
    if args.quick:
        args.chunks, args.rounds = 300, 3
    cores = os.cpu_count() or 1
    loads = [os.getloadavg()[0]]
    with platform_env() as bench:
        from raylane.client import Client
        from raylane.config import get_settings
        from raylane.core.documents.chunking import load_tokenizer
        from raylane.infra import embeddings

        settings = get_settings()
        model = settings.embeddings.default_model
        model_dir = str(embeddings.resolve(model, settings))
        max_tokens, overlap = settings.documents.chunk_max_tokens, settings.documents.chunk_overlap
        tokenizer = load_tokenizer(model_dir)
        files, chunks = build_corpus(
            args.chunks, seed=args.seed, tokenizer=tokenizer, max_tokens=max_tokens, overlap=overlap
        )
        tokens = sum(len(tokenizer.encode(c, add_special_tokens=False)) for c in chunks)

        # Set-up, not timed: the platform up, one collection per model and round, uploaded.
        url = start_platform(settings)
        _, owner_key = tenant(url, bench.admin_key, "embed-bench")
        plan: list[dict[str, Any]] = []
        with Client(url, owner_key, timeout=300) as client:
            project = client.projects.create(name="embed-bench")
            for r in range(args.rounds):
                ids = {}
                for name in (model, INT8):
                    col = client.collections.create(
                        project.id,
                        name=f"{name}-{r}",
                        embedding_model=name,
                        chunk_max_tokens=max_tokens,
                        chunk_overlap=overlap,
                    )
                    for start in range(0, len(files), 50):
                        batch = [(n, d, "text/plain") for n, d in files[start : start + 50]]
                        client.documents.upload(col.id, batch)
                    ids[name] = col.id
                plan.append(ids)
        stop_platform(settings)
        # The int8 file is made once per node and cached (~3 s idle, like an install step); made
        # here, by the platform's own code, so no timed round pays for it.
        embeddings.load_named(INT8, settings)

        # The baselines' model and pool, made once while nothing else runs (not timed).
        import torch
        from sentence_transformers import SentenceTransformer

        os.environ["OMP_NUM_THREADS"] = "1"  # the pool's processes: one thread each
        plain = SentenceTransformer(model_dir, device="cpu")
        pool = plain.start_multi_process_pool(["cpu"] * cores)
        os.environ.pop("OMP_NUM_THREADS")
        torch.set_num_threads(cores)
        baseline_encode(plain, chunks[:64])  # warm-up

        times: dict[str, list[float]] = {"fp32": [], "int8": [], "encode": [], "pool": []}
        base_vectors: Any = None
        last_logs = {}
        try:
            for r, ids in enumerate(plan):
                url = start_platform(settings)
                with Client(url, owner_key, timeout=300) as client:
                    time.sleep(2)  # let start-up work settle
                    loads.append(os.getloadavg()[0])
                    for side, name in (("fp32", model), ("int8", INT8)):
                        seconds, last_logs[side] = ingest(
                            client, ids[name], len(chunks), args.timeout
                        )
                        times[side].append(seconds)
                        if args.logs:
                            print(last_logs[side], file=sys.stderr)
                    hits = client.collections.search(ids[INT8], chunks[0], top_k=1).hits
                    if not hits:
                        raise Failed("the int8 collection's search found nothing")
                stop_platform(settings)
                loads.append(os.getloadavg()[0])
                seconds, base_vectors = baseline_encode(plain, chunks)
                times["encode"].append(seconds)
                times["pool"].append(baseline_pool(plain, pool, chunks))
                print(
                    f"round {r + 1}: "
                    + " ".join(f"{side} {vals[-1]:.1f} s" for side, vals in times.items()),
                    file=sys.stderr,
                )
        finally:
            plain.stop_multi_process_pool(pool)
            stop_platform(settings)
        int8_encoder = embeddings.load_named(INT8, settings, cores)
        recall, asked = recall_at_10(chunks, plain, int8_encoder, args.queries, args.seed)
        del base_vectors

    fastest = [min(a, b) for a, b in zip(times["encode"], times["pool"], strict=True)]
    ratio = [f / p for f, p in zip(fastest, times["fp32"], strict=True)]
    speedup = [f / p for f, p in zip(fastest, times["int8"], strict=True)]
    print(
        f"corpus: {len(files)} documents, {len(chunks)} chunks ({max_tokens}-token chunks,"
        f" {overlap} overlap; {tokens / len(chunks):.0f} tokens/chunk on average), seed {args.seed}"
    )
    print(
        f"machine: {cores} cores; {args.rounds} alternating rounds; host load average (1 min)"
        f" per phase: {' '.join(f'{x:.1f}' for x in loads)}"
    )
    print(f"\n{'side':<34} {'seconds, median (min-max)':>28} {'chunks/s (median)':>18}")
    rows = [
        ("baseline encode(all), torch x" + str(cores), times["encode"]),
        (f"baseline multi-process, {cores} x 1", times["pool"]),
        ("baseline, faster of the two", fastest),
        (f"platform {model}", times["fp32"]),
        (f"platform {INT8}", times["int8"]),
    ]
    for side, vals in rows:
        rate = len(chunks) / statistics.median(vals)
        print(f"{side:<34} {median_spread(vals):>28} {rate:>18.1f}")
    for side in ("fp32", "int8"):
        stages = ray_data_stages(last_logs.get(side, ""))
        if stages:
            print(
                f"last {side} job's Ray Data executions: "
                + "; ".join(f"{op} {sec:.1f} s" for op, sec in stages)
            )
    print(f"embed_ratio per round: {' '.join(f'{x:.2f}' for x in ratio)}")
    print(f"embed_int8_speedup per round: {' '.join(f'{x:.2f}' for x in speedup)}")
    print(
        f"int8 recall@10 vs fp32 exact: {recall:.3f} ({asked} held-out chunk queries,"
        " at most a fifth of the chunks)"
    )
    print(
        f"embed_ratio={statistics.median(ratio):.2f}"
        f" embed_int8_speedup={statistics.median(speedup):.2f}"
        f" int8_recall_at_10={recall:.3f}"
    )
    return 0 if recall >= 0.97 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
