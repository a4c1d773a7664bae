"""Ingest throughput: chunks/s of the platform's ingest job vs a plain SentenceTransformer loop.

A seeded synthetic corpus of English-like documents is sized so that chunking it with the
collection's settings gives about ``--chunks`` chunks (the exact count is printed). Both sides use
the same model, chunks, batch size and CPU threads (``--threads`` torch threads in the baseline
process; on the platform as many embedding actors of one thread each, its default on one
machine, or ``--actors`` actors sharing them, through ``RAYLANE_EMBEDDINGS__THREADS`` and
``RAYLANE_EMBEDDINGS__INGEST_ACTORS``):

* ``baseline``: this process re-chunks the corpus exactly as the job does (same parser,
  ``chunk_text``, tokenizer and settings) and times ``SentenceTransformer.encode`` over the chunk
  texts in batches of the platform's batch size; model load excluded. It runs twice, before Ray
  starts and again after the ingest run (Ray idle), and the mean time is used, so that a
  change in the host's load during the run (a shared machine) weighs on both sides alike.
* ``platform``: a local Ray head and the Serve app (so the RunReconciler runs) are started (not
  timed), a tenant, project and collection are created and the documents uploaded with the SDK;
  then timed from ``POST /collections/{id}/ingest`` until the run reads ``succeeded`` (polled
  every 0.5 s; job submission, driver start, Ray Data, model load in each embedding actor,
  pgvector writes and progress updates included). The run's own ``finished_at - started_at`` is
  printed as well. The platform batches chunks of similar length together (its pipeline sorts
  them by token count); the baseline encodes them in document order, as a plain loop would.

The Serve Embedder replica takes no part in ingest: it embeds search queries only, and loads its
model on the first one, so during the run it sits idle and is left deployed.

Last line: ``embed_ratio=<platform chunks/s from the request / baseline chunks/s>``; the line
before it, ``job_ratio``, uses the run's own duration instead. Goal >= 0.8.

    .venv/bin/python bench/embed.py [--chunks 2000] [--threads 2] [--actors N]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import platform_env, tenant


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


def load_model(model_dir: str, threads: int) -> Any:
    """The plain SentenceTransformer the baseline uses, with ``threads`` torch threads."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    return SentenceTransformer(model_dir, device="cpu")


def encode_loop(model: Any, texts: list[str], *, batch_size: int) -> tuple[float, float, Any]:
    """The baseline: encode ``texts`` batch by batch. Returns (wall s, CPU s, vectors)."""
    import numpy as np

    out = []
    t0, c0 = time.perf_counter(), time.process_time()
    for start in range(0, len(texts), batch_size):
        out.append(
            model.encode(
                texts[start : start + batch_size],
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
            )
        )
    return time.perf_counter() - t0, time.process_time() - c0, np.concatenate(out)


def ray_data_stages(logs: str) -> list[tuple[str, float]]:
    """(last operator, seconds) of each Ray Data execution the job's log reports, in order."""
    plans = dict(re.findall(r"Execution plan of Dataset (\S+): .*-> (\S+)\s*$", logs, re.M))
    return [
        (plans.get(ds, ds), float(sec))
        for ds, sec in re.findall(r"Dataset (\S+) execution finished in ([\d.]+) seconds", logs)
    ]


def wait_serve_app(timeout: float = 300) -> None:
    """Until every deployment of the Serve app is up (the LLM replica loads a model at start)."""
    from ray import serve

    from raylane.serve.deployments import APP_NAME

    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        app = serve.status().applications.get(APP_NAME)
        status = app.status if app else None
        if str(status) in ("RUNNING", "ApplicationStatus.RUNNING"):
            return
        time.sleep(1)
    raise TimeoutError(f"Serve app {APP_NAME!r} not running after {timeout:.0f} s ({status})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2, help="torch threads on each side")
    parser.add_argument(
        "--actors",
        type=int,
        default=None,
        help="platform: embedding actors sharing --threads (default: one per thread, the"
        " platform's own default on one machine)",
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--logs", action="store_true", help="print the job's log to stderr")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the run")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    args.actors = args.actors or args.threads
    if args.threads % args.actors:
        parser.error("--threads must be a multiple of --actors")
    overrides = {
        "RAYLANE_EMBEDDINGS__THREADS": str(args.threads // args.actors),
        "RAYLANE_EMBEDDINGS__INGEST_ACTORS": str(args.actors),
    }
    with platform_env(**overrides) as bench:
        from raylane.client import Client, RunFailed
        from raylane.config import get_settings
        from raylane.core.documents.chunking import load_tokenizer
        from raylane.infra import embeddings, runtime
        from raylane.infra.workloads import head_resources

        settings = get_settings()
        model = settings.embeddings.default_model
        model_dir = str(embeddings.resolve(model, settings))
        max_tokens, overlap = settings.documents.chunk_max_tokens, settings.documents.chunk_overlap
        batch_size = settings.embeddings.batch_size

        t0 = time.perf_counter()
        tokenizer = load_tokenizer(model_dir)
        files, chunks = build_corpus(
            args.chunks, seed=args.seed, tokenizer=tokenizer, max_tokens=max_tokens, overlap=overlap
        )
        corpus_s = time.perf_counter() - t0
        tokens = sum(len(tokenizer.encode(c, add_special_tokens=False)) for c in chunks)
        plain = load_model(model_dir, args.threads)
        before_s, before_cpu, base_vectors = encode_loop(plain, chunks, batch_size=batch_size)

        from raylane.serve.deploy import deploy

        runtime.start_ray(settings, resources=head_resources())
        url = deploy(settings)
        try:
            wait_serve_app()
            _, owner_key = tenant(url, bench.admin_key, "embed-bench")
            with Client(url, owner_key, timeout=120) as client:
                project = client.projects.create(name="embed-bench")
                collection = client.collections.create(
                    project.id,
                    name="corpus",
                    embedding_model=model,
                    chunk_max_tokens=max_tokens,
                    chunk_overlap=overlap,
                )
                for start in range(0, len(files), 50):
                    batch = [(n, d, "text/plain") for n, d in files[start : start + 50]]
                    client.documents.upload(collection.id, batch)
                time.sleep(2)  # let the upload's work settle
                load_before = os.getloadavg()[0]
                t0 = time.perf_counter()
                run = client.collections.ingest(collection.id)
                try:
                    run = client.runs.wait(run.id, timeout=args.timeout, poll=0.5)
                except (RunFailed, TimeoutError):
                    print(client.runs.logs(run.id).logs[-5000:], file=sys.stderr)
                    raise
                wall_s = time.perf_counter() - t0
                logs = client.runs.logs(run.id).logs
                if args.logs:
                    print(logs, file=sys.stderr)
                hit = client.collections.search(
                    collection.id, vector=base_vectors[0].tolist(), top_k=1
                ).hits[0]
            after_s, after_cpu, _ = encode_loop(plain, chunks, batch_size=batch_size)
        finally:
            import ray

            ray.shutdown()  # disconnect before the harness stops the cluster

    assert run.started_at and run.finished_at
    job_s = (run.finished_at - run.started_at).total_seconds()
    queued_s = (run.started_at - run.created_at).total_seconds()
    done = int(run.result.get("chunks", -1))
    print(
        f"corpus: {len(files)} documents, {len(chunks)} chunks ({max_tokens}-token chunks,"
        f" {overlap} overlap; {tokens / len(chunks):.0f} tokens/chunk on average; built in"
        f" {corpus_s:.1f} s),"
        f" seed {args.seed}"
    )
    print(
        f"model {model}, batch size {batch_size}, torch threads {args.threads} (platform:"
        f" {args.actors} actor(s) x {args.threads // args.actors});"
        f" host load average {load_start:.1f} at start, {load_before:.1f} before the run,"
        f" {os.getloadavg()[0]:.1f} at the end"
    )
    if done != len(chunks):
        print(f"WARNING: the run wrote {done} chunks, the local re-chunking made {len(chunks)}")
    print(
        f"check: chunk 0's baseline vector finds chunk {hit.chunk_index} of {hit.document_name}"
        f" at cosine {hit.score:.5f}"
    )
    base_s = (before_s + after_s) / 2
    base_rate = len(chunks) / base_s
    wall_rate = done / wall_s
    job_rate = done / job_s
    rows = [
        ("baseline, before", len(chunks), before_s, f"{before_cpu:.1f}"),
        ("baseline, after", len(chunks), after_s, f"{after_cpu:.1f}"),
        ("baseline (mean time)", len(chunks), base_s, ""),
        ("platform, from request", done, wall_s, ""),
        ("platform, job itself", done, job_s, ""),
    ]
    print(f"\n{'side':<22} {'chunks':>7} {'seconds':>8} {'chunks/s':>9} {'CPU s':>7}")
    for side, n, sec, cpu in rows:
        print(f"{side:<22} {n:>7} {sec:>8.1f} {n / sec:>9.1f} {cpu:>7}")
    print(
        "(baseline before Ray starts and again after the run, Ray idle; from request = POST"
        " ingest until the run reads succeeded; job itself = the run's started_at..finished_at;"
        f" {queued_s:.1f} s from POST to submission)"
    )
    stages = ray_data_stages(logs)
    if stages:
        print("job's Ray Data executions: " + "; ".join(f"{op} {sec:.1f} s" for op, sec in stages))
    print(f"\njob_ratio={job_rate / base_rate:.2f}")
    print(f"embed_ratio={wall_rate / base_rate:.2f}")


if __name__ == "__main__":
    main()
