"""Which model and answer mode make the demo copilot right: suite pass rates and tokens/s.

For each candidate model (the packaged SmolLM2-135M-Instruct, and any GGUF given with
``--model PATH``) and each answer mode (``extractive``: quoted from the passages;
``generative``: the model writes the answer from the same prompt the platform uses), every case
of a suite goes through the copilot engine in this process, as a request to the demo project
would: the real embedder, a real embedded Postgres holding Raylane's own docs
(``raylane/data/docs``) ingested by the ingest job's own parse, chunk and embed steps,
retrieval, the guardrails, the engine's streaming. Each case is scored with the suite's
assertions (the agent tests' assertion engine).

Suites: the development questions (``tests/data/copilot_dev.yaml``, used to tune the grounding)
and, with ``--demo``, the held-out demo suite (``raylane/data/suites/demo.yaml``: score it once,
at the end; never tune on it). Generation is greedy (temperature 0) so runs repeat.

tokens/s: the model's decode rate on the generative answers (completion tokens over the time
from the first token to the last), median over the answers. Extractive answers involve no model;
their "latency" column is the engine's whole answer time (retrieval included).

Last line: ``demo_pass_rate=<default model, default mode; "nan" without --demo>
dev_pass_rate=<same, on the development questions>``.

    .venv/bin/python bench/copilot_models.py [--demo] [--model PATH ...] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench._harness import load_average

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT / "tests" / "data" / "copilot_dev.yaml"
DEMO = ROOT / "raylane" / "data" / "suites" / "demo.yaml"
MODES = ("extractive", "generative")


@dataclass
class Score:
    passed: int = 0
    total: int = 0
    by_tag: dict[str, list[int]] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else float("nan")


def start_services(data_dir: Path) -> Any:
    """Embedded Postgres and Redis in ``data_dir``, migrated; the settings that reach them."""
    from raylane.config import Settings, get_settings
    from raylane.infra import embedded_redis
    from raylane.infra.db import embedded, migrate

    settings = Settings(env="test", data_dir=data_dir, secret_key=secrets.token_urlsafe(40))
    get_settings.cache_clear()
    os.environ["RAYLANE_DATA_DIR"] = str(data_dir)
    os.environ["RAYLANE_ENV"] = "test"
    os.environ["RAYLANE_SECRET_KEY"] = settings.secret_key.get_secret_value()
    embedded.start(data_dir)
    embedded_redis.start_embedded(data_dir)
    migrate.upgrade(settings)
    return settings


def stop_services(data_dir: Path) -> None:
    from raylane.infra import embedded_redis
    from raylane.infra.db import embedded

    embedded_redis.stop_embedded(data_dir)
    embedded.stop(data_dir)


async def demo_project(settings: Any) -> tuple[Any, uuid.UUID, int]:
    """The first start's demo (platform organization, project ``demo``, Raylane's docs), its
    documents ingested here by the ingest job's own steps. Returns (actor, project id, chunks)."""
    import numpy as np
    import psycopg
    from pgvector.psycopg import register_vector
    from psycopg.types.json import Jsonb

    from raylane.core.bootstrap.service import ensure_demo, ensure_platform_admin
    from raylane.core.rbac import ROLE_PERMISSIONS, Actor, Role
    from raylane.infra import embeddings
    from raylane.infra.db.urls import libpq_url, owner_url
    from raylane.jobs import ingest

    created = await ensure_platform_admin(settings)
    assert created is not None
    org, user, _ = created
    await ensure_demo(settings, organization_id=org, user_id=user)
    with psycopg.connect(libpq_url(owner_url(settings)), autocommit=True) as conn:
        project, collection, model, dims, max_tokens, overlap = conn.execute(
            "SELECT p.id, c.id, c.embedding_model, c.dimensions, c.chunk_max_tokens,"
            " c.chunk_overlap FROM projects p JOIN collections c ON c.project_id = p.id"
            " WHERE p.organization_id = %s AND p.name = 'demo'",
            (org,),
        ).fetchone()
        docs = conn.execute(
            "SELECT id, object_key, name, mime, metadata FROM documents WHERE collection_id = %s",
            (collection,),
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
            model_dir=str(embeddings.resolve(model)),
            max_tokens=max_tokens,
            overlap=overlap,
        )
        if set(chunks["error"]) != {""}:
            raise SystemExit(f"the demo docs did not parse: {set(chunks['error'])}")
        batch = ingest.Embedder(model, threads=os.cpu_count() or 1, batch_size=16)(
            {k: np.array(v) for k, v in chunks.items()}
        )
        register_vector(conn)
        for i, document in enumerate(batch["document_id"]):
            conn.execute(
                "INSERT INTO chunks (id, organization_id, collection_id, document_id,"
                " chunk_index, content_hash, model, text, token_count, metadata, dimensions,"
                " embedding) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    uuid.uuid4(),
                    org,
                    collection,
                    uuid.UUID(str(document)),
                    int(batch["chunk_index"][i]),
                    str(batch["content_hash"][i]),
                    model,
                    str(batch["text"][i]),
                    int(batch["token_count"][i]),
                    Jsonb({}),
                    dims,
                    np.asarray(batch["embedding"][i], dtype=np.float32),
                ),
            )
    actor = Actor(
        organization_id=org, user_id=user, role=Role.OWNER, permissions=ROLE_PERMISSIONS[Role.OWNER]
    )
    return actor, project, len(batch["document_id"])


def load_suite(path: Path) -> Any:
    import yaml

    from raylane.schemas.agent_tests import SuiteDocument

    return SuiteDocument.model_validate(yaml.safe_load(path.read_text()))


class _NoScorers:
    """The suites here use text assertions only; a model-scored one would fail loudly."""

    async def similarity(self, text: str, reference: str) -> float:
        raise RuntimeError("no similarity scorer in this bench")

    async def judge(self, rubric: str, conversation: Any, output: str) -> Any:
        raise RuntimeError("no judge in this bench")


async def score_suite(
    engine: Any, actor: Any, project: uuid.UUID, doc: Any, mode: str, *, max_tokens: int
) -> Score:
    from raylane.core.agenttests.assertions import score_case
    from raylane.core.agenttests.types import Citation, Observation
    from raylane.core.copilot.engine import ChatRequest
    from raylane.infra.llm.base import GenerationParams

    score = Score()
    for case in doc.cases:
        turns = [{"role": m.role, "content": m.content} for m in case.messages]
        request = ChatRequest(
            question=turns[-1]["content"],
            project_id=project,
            history=turns[:-1],
            store=False,
            answer_mode=mode,  # type: ignore[arg-type]
            params=GenerationParams(max_tokens=max_tokens, temperature=0.0),
        )
        text, citations, tokens = [], [], 0
        t0 = time.perf_counter()
        first = last = None
        async for event in engine.chat(actor, request):
            now = time.perf_counter()
            if event["type"] == "token":
                first = first or now
                last = now
                text.append(event["text"])
            elif event["type"] == "citations":
                citations = event["citations"]
            elif event["type"] == "done":
                tokens = event["usage"]["completion_tokens"]
        elapsed = time.perf_counter() - t0
        output = "".join(text)
        if mode == "generative" and first and last and last > first and tokens > 1:
            score.rates.append((tokens - 1) / (last - first))
        observation = Observation(
            output=output,
            latency_ms=elapsed * 1000,
            output_tokens=tokens,
            citations=[
                Citation(c["index"], c["document_id"], c["document_name"]) for c in citations
            ],
        )
        result = await score_case(doc, case, observation, _NoScorers())
        ok = result.status == "passed"
        score.total += 1
        score.passed += ok
        score.latencies_ms.append(elapsed * 1000)
        for tag in case.tags:
            score.by_tag.setdefault(tag, [0, 0])
            score.by_tag[tag][0] += ok
            score.by_tag[tag][1] += 1
        if not ok:
            score.failures.append(f"{case.id}: {' '.join(output.split())[:160]!r}")
    return score


def _tags(score: Score) -> str:
    keep = ("facts", "not-in-docs", "multi-turn")
    return " ".join(
        f"{t} {score.by_tag[t][0]}/{score.by_tag[t][1]}" for t in keep if t in score.by_tag
    )


async def run(args: argparse.Namespace) -> int:
    from raylane.core.copilot.engine import CopilotEngine
    from raylane.core.quotas.service import TokenQuota
    from raylane.infra.db.session import Database
    from raylane.infra.db.urls import app_url
    from raylane.infra.kv import async_client, redis_url
    from raylane.infra.llm.llamacpp import LlamaCppBackend, default_model_path
    from raylane.serve.platform import local_embedder

    print(f"# {load_average()}", flush=True)
    data_dir = Path(tempfile.mkdtemp(prefix="rl-cm-", dir="/tmp"))
    os.chmod(data_dir, 0o755)
    settings = start_services(data_dir)
    try:
        actor, project, chunks = await demo_project(settings)
        print(f"# demo docs ingested: {chunks} chunks", flush=True)
        db = Database(app_url(settings), pool_size=2)
        quota = TokenQuota(async_client(redis_url(settings)), daily_tokens=0)
        embed = local_embedder(settings)
        suites = {"dev": load_suite(DEV)}
        if args.demo:
            suites["demo"] = load_suite(DEMO)
        if args.quick:
            suites = {k: v.model_copy(update={"cases": v.cases[:6]}) for k, v in suites.items()}
        models = [("smollm2-135m-instruct (default)", default_model_path())]
        models += [(Path(p).name, Path(p)) for p in args.model]
        rows: list[tuple[str, str, dict[str, Score]]] = []
        for name, path in models:
            backend = LlamaCppBackend(
                path,
                model_name=name,
                context=settings.llm.context_tokens,
                threads=settings.llm.threads,
                repeat_penalty=settings.llm.repeat_penalty,
            )
            engine = CopilotEngine(db, embed=embed, generate=backend.stream, quota=quota)
            for mode in MODES if not args.mode else [args.mode]:
                scores = {}
                for label, doc in suites.items():
                    scores[label] = await score_suite(
                        engine, actor, project, doc, mode, max_tokens=args.max_tokens
                    )
                    s = scores[label]
                    print(f"# {name} {mode} {label}: {s.passed}/{s.total} ({_tags(s)})", flush=True)
                    if args.verbose:
                        for failure in s.failures:
                            print(f"#   FAIL {failure}", flush=True)
                rows.append((name, mode, scores))
        await db.dispose()
    finally:
        stop_services(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)

    columns = ["model", "answer mode"]
    columns += [c for label in suites for c in (f"{label} pass rate", f"{label} by kind")]
    columns += ["answer p50 ms", "decode tok/s (p50)"]
    print()
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for name, mode, scores in rows:
        cells = " | ".join(
            f"{s.rate:.2f} ({s.passed}/{s.total}) | {_tags(s)}" for s in scores.values()
        )
        latencies = [x for s in scores.values() for x in s.latencies_ms]
        rates = [x for s in scores.values() for x in s.rates]
        rate = f"{statistics.median(rates):.1f}" if rates else "n/a (no model)"
        print(f"| {name} | {mode} | {cells} | {statistics.median(latencies):.0f} | {rate} |")
    default_mode = "extractive"  # what answer_mode auto means for the packaged model
    chosen = next(s for n, m, s in rows if m == default_mode or args.mode) if rows else {}
    demo = chosen.get("demo")
    dev = chosen.get("dev")
    print(
        f"demo_pass_rate={demo.rate if demo else float('nan'):.3f} "
        f"dev_pass_rate={dev.rate if dev else float('nan'):.3f}"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--demo", action="store_true", help="also score the held-out demo suite")
    parser.add_argument("--model", action="append", default=[], help="another GGUF to compare")
    parser.add_argument("--mode", choices=MODES, help="only this answer mode")
    parser.add_argument("--max-tokens", type=int, default=128, help="generative answers' cap")
    parser.add_argument("--quick", action="store_true", help="six cases per suite")
    parser.add_argument("-v", "--verbose", action="store_true", help="print failing answers")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
