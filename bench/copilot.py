"""LLM generation through the Serve endpoint vs in-process llama.cpp, on the same prompts.

Both sides run the default model (SmolLM2-135M-Instruct GGUF) with the same settings: the
same chat-formatted prompts (the platform's plain-chat system prompt and the model's chat
template), ``max_tokens`` (64), temperature 0 (greedy, so both sides generate the same tokens;
checked), the template's stop strings, context size and llama.cpp threads (``--threads``, given
to the platform as ``RAYLANE_LLM__THREADS`` before Ray starts; default half the CPUs, since
llama.cpp's threads wait on each other at every token and the platform's proxy, ingress and
Copilot replica need CPU of their own for each token they pass on):

* ``baseline``: ``llama_cpp.Llama.create_completion(stream=True)`` in this process, loaded and
  prompted through ``LlamaCppBackend`` exactly as the LLM replica does.
* ``platform``: ``POST /v1/chat/completions`` (``stream=true``, model ``smollm2-135m-instruct``:
  plain chat, no retrieval) with one httpx client, one request at a time: proxy → ApiIngress
  (auth, rate limit, quota check) → Copilot (input guardrails, streaming output redaction,
  whole-output guardrails, usage row, quota update) → LLM replica.

Per request: TTFT is the time from the call (baseline) or from sending the request (platform)
to the first non-empty piece of text. ``decode tok/s`` is ``(completion tokens - 1) / (last text
- first text)``: the rate of the tokens after the first one. ``e2e tok/s`` is ``completion tokens
/ (call or request → end of stream)``. Completion tokens: the baseline counts llama.cpp's
stream chunks as the backend does; the platform's come from a non-streamed repeat of each prompt
(its ``usage``), checked against the baseline's count and text.

Sides never run at once: rounds alternate baseline-first and platform-first (ABBA), each after
one warm-up request per side. The guardrails' own CPU cost per request is also measured
in-process on the same texts with the default policy. Ray starts its workers (the LLM replica
among them) at a lower CPU priority (nice) than this process: the two values and the host's
load are printed, as they decide the result on a busy machine.

Last line: ``copilot_ratio=<platform decode tok/s / baseline decode tok/s>``. Goal >= 0.9, and
``added_ttft_ms`` (platform p50 TTFT - baseline p50 TTFT) <= 50.

    .venv/bin/python bench/copilot.py [--threads N] [--rounds 4] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import platform_env, tenant

WARM_UP = "Say hello in one short sentence."
PROMPTS = [
    "Explain what a hash table is and why lookups are fast.",
    "Describe how photosynthesis works in plants.",
    "What are the main causes of inflation in an economy?",
    "Give some practical tips for writing clear technical documentation.",
    "How does a refrigerator keep food cold?",
    "Summarize the water cycle for a ten-year-old.",
    "What is the difference between a process and a thread?",
    "Why do the seasons change during the year?",
]


@dataclass
class Sample:
    ttft_s: float
    decode_s: float  # first text → last text
    total_s: float  # call / request → end of stream
    tokens: int
    text: str
    pieces: list[str] = field(default_factory=list)

    @property
    def decode_rate(self) -> float:
        return (self.tokens - 1) / self.decode_s if self.tokens > 1 and self.decode_s > 0 else 0.0

    @property
    def e2e_rate(self) -> float:
        return self.tokens / self.total_s


def baseline_one(llm: Any, prompt: str, stops: list[str], max_tokens: int) -> Sample:
    """One streamed completion in this process, with the LLM replica's exact call."""
    first = last = None
    count, pieces = 0, []
    t0 = time.perf_counter()
    for chunk in llm.create_completion(
        prompt, max_tokens=max_tokens, temperature=0.0, stop=stops, stream=True
    ):
        now = time.perf_counter()
        choice = chunk["choices"][0]
        if not choice.get("finish_reason"):  # the closing chunk carries no token
            count += 1
        if choice["text"]:
            pieces.append(choice["text"])
            first = now if first is None else first
            last = now
    end = time.perf_counter()
    assert first is not None and last is not None, "the model produced no text"
    return Sample(first - t0, last - first, end - t0, count, "".join(pieces), pieces)


def platform_one(client: Any, body: dict[str, Any]) -> Sample:
    """One streamed request; tokens are filled in later from the non-streamed repeat."""
    first = last = None
    pieces: list[str] = []
    t0 = time.perf_counter()
    with client.stream("POST", "/v1/chat/completions", json=body | {"stream": True}) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: "):
                continue
            data = line[len("data: ") :]
            if data == "[DONE]":
                break
            choice = json.loads(data)["choices"][0]
            if choice.get("finish_reason") not in (None, "stop", "length"):
                raise RuntimeError(f"platform stream ended with {choice['finish_reason']}")
            text = choice["delta"].get("content")
            if text:
                now = time.perf_counter()
                pieces.append(text)
                first = now if first is None else first
                last = now
    end = time.perf_counter()
    assert first is not None and last is not None, "the platform streamed no text"
    return Sample(first - t0, last - first, end - t0, 0, "".join(pieces), pieces)


def guardrail_cost_ms(questions: list[str], outputs: list[Sample]) -> float:
    """Mean in-process ms per request of what the engine runs around generation: input
    evaluation, streaming redaction of the pieces, whole-output evaluation (default policy)."""
    from raylane.core.guardrails.policy import Stage, effective_policy, evaluate
    from raylane.core.guardrails.stream import StreamRedactor

    policy = effective_policy(None, None)
    t0 = time.perf_counter()
    for question, sample in zip(questions, outputs, strict=True):
        evaluate(policy, question, stage=Stage.INPUT)
        redactor = StreamRedactor.from_policy(policy, stage=Stage.OUTPUT)
        for piece in sample.pieces:
            redactor.feed(piece)
        redactor.finish()
        evaluate(policy, sample.text, stage=Stage.OUTPUT)
    return (time.perf_counter() - t0) * 1000 / len(questions)


def replica_nice(data_dir: Path) -> int | None:
    """The nice value of this cluster's LLM replica process (Linux), None if not found."""
    marker = f"RAYLANE_DATA_DIR={data_dir.resolve()}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if b"ServeReplica:raylane:LLM" not in (proc / "cmdline").read_bytes():
                continue
            if marker not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            return os.getpriority(os.PRIO_PROCESS, int(proc.name))
        except OSError:
            continue
    return None


def dump_serve_logs(ray_dir: Path, chars: int = 3000) -> None:
    """The end of each Serve log of this cluster, to stderr (after a failed request)."""
    for log in sorted((ray_dir / "session_latest" / "logs" / "serve").glob("*.log")):
        print(f"--- {log.name}\n{log.read_text(errors='replace')[-chars:]}", file=sys.stderr)


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads",
        type=int,
        default=max(1, (os.cpu_count() or 2) // 2),
        help="llama.cpp threads on both sides (default: half the CPUs)",
    )
    parser.add_argument("--rounds", type=int, default=4, help="passes over the prompts per side")
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    overrides = {
        "RAYLANE_LLM__THREADS": str(args.threads),
        "RAYLANE_QUOTAS__DAILY_TOKENS": "0",  # unlimited
    }
    base: list[Sample] = []
    plat: list[Sample] = []
    with platform_env(**overrides) as bench:
        import httpx

        from bench.embed import wait_serve_app
        from raylane.config import get_settings
        from raylane.core.copilot import prompt as chat_prompt
        from raylane.infra import runtime
        from raylane.infra.llm.llamacpp import LlamaCppBackend
        from raylane.infra.workloads import head_resources
        from raylane.serve.deploy import deploy

        settings = get_settings()
        assert settings.llm.backend == "llamacpp", "the baseline is llama.cpp"
        assert settings.llm.threads == args.threads
        backend = LlamaCppBackend.from_settings(settings)
        llm = backend.load()
        formatted = [backend.prompt(chat_prompt.build([], [], q)) for q in [WARM_UP, *PROMPTS]]

        runtime.start_ray(settings, resources=head_resources())
        url = deploy(settings)
        try:
            wait_serve_app()
            _, owner_key = tenant(url, bench.admin_key, "copilot-bench")
            model = settings.llm.model_name
            bodies = [
                {
                    "model": model,
                    "messages": [{"role": "user", "content": q}],
                    "max_tokens": args.max_tokens,
                    "temperature": 0,
                }
                for q in [WARM_UP, *PROMPTS]
            ]
            headers = {"Authorization": f"Bearer {owner_key}"}
            with httpx.Client(
                base_url=url, headers=headers, timeout=300, trust_env=False
            ) as client:

                def run_baseline() -> list[Sample]:
                    baseline_one(llm, *formatted[0], args.max_tokens)  # warm-up
                    return [baseline_one(llm, *f, args.max_tokens) for f in formatted[1:]]

                def run_platform() -> list[Sample]:
                    platform_one(client, bodies[0])  # warm-up (the replica loads the model)
                    return [platform_one(client, b) for b in bodies[1:]]

                load_before = os.getloadavg()[0]
                per_round: list[tuple[list[Sample], list[Sample]]] = []
                try:
                    for i in range(args.rounds):
                        if i % 4 in (0, 3):
                            b = run_baseline()
                            pl = run_platform()
                        else:
                            pl = run_platform()
                            b = run_baseline()
                        per_round.append((b, pl))
                        base += b
                        plat += pl
                except httpx.HTTPError:
                    dump_serve_logs(runtime.ray_temp_dir(settings))
                    raise
                nice = replica_nice(settings.data_dir)
                # Completion tokens of each prompt on the platform (greedy: the same answer).
                usage = []
                for body in bodies[1:]:
                    r = client.post("/v1/chat/completions", json=body)
                    r.raise_for_status()
                    out = r.json()
                    usage.append(
                        (
                            out["usage"]["completion_tokens"],
                            out["choices"][0]["message"]["content"],
                        )
                    )
            load_after = os.getloadavg()[0]
        finally:
            import ray

            ray.shutdown()  # disconnect before the harness stops the cluster

    n = len(PROMPTS)
    mismatches = []
    for i, s in enumerate(plat):
        tokens, text = usage[i % n]
        s.tokens = tokens
        ref = base[i % n]
        if i < n and (tokens != ref.tokens or text != ref.text):
            mismatches.append(
                f"prompt {i}: baseline {ref.tokens} tokens, platform {tokens} tokens"
                f"{'' if text == ref.text else ' (non-streamed text differs)'}"
            )
        if s.text != ref.text:
            mismatches.append(f"prompt {i % n}, round {i // n + 1}: streamed text differs")
    for i, s in enumerate(base[n:], start=n):
        if s.tokens != base[i % n].tokens or s.text != base[i % n].text:
            mismatches.append(f"prompt {i % n}: baseline differs between rounds")

    guard_ms = guardrail_cost_ms(PROMPTS, base[:n])
    print(
        f"model {settings.llm.model_name}, {n} prompts x {args.rounds} rounds (ABBA order),"
        f" max_tokens {args.max_tokens}, temperature 0, llama.cpp threads {args.threads},"
        f" context {settings.llm.context_tokens}; {os.cpu_count()} CPUs,"
        f" load average {load_start:.1f} at start, {load_before:.1f} before measuring,"
        f" {load_after:.1f} after; nice: baseline {os.getpriority(os.PRIO_PROCESS, 0)},"
        f" LLM replica {'unknown' if nice is None else nice}"
    )
    if max(load_before, load_after) > (os.cpu_count() or 1):
        print(
            "WARNING: load average above the CPU count: other work shared the CPUs during"
            " the run, so these numbers mostly measure contention"
        )
    if mismatches:
        print("WARNING: the two sides did not generate the same tokens:")
        for m in mismatches:
            print(f"  {m}")
    else:
        per_prompt = [s.tokens for s in base[:n]]
        print(f"check: same completion tokens and text on both sides for all prompts {per_prompt}")
    print(
        f"\n{'side':<9} {'TTFT p50 ms':>11} {'TTFT p90 ms':>11} {'decode tok/s':>12}"
        f" {'e2e tok/s':>9} {'tokens':>7}"
    )
    rows: dict[str, tuple[float, float, float]] = {}
    for name, samples in (("baseline", base), ("platform", plat)):
        ttft = [s.ttft_s * 1000 for s in samples]
        rows[name] = (
            statistics.median(ttft),
            statistics.mean(s.decode_rate for s in samples),
            statistics.mean(s.e2e_rate for s in samples),
        )
        print(
            f"{name:<9} {rows[name][0]:>11.1f} {p(ttft, 90):>11.1f} {rows[name][1]:>12.1f}"
            f" {rows[name][2]:>9.1f} {sum(s.tokens for s in samples):>7}"
        )
    print("per round, decode tok/s baseline / platform:")
    for i, (b, pl) in enumerate(per_round):
        rb = statistics.mean(s.decode_rate for s in b)
        rp = statistics.mean(s.decode_rate for s in pl)
        print(f"  round {i + 1}: {rb:.1f} / {rp:.1f} = {rp / rb:.2f}")
    tail = statistics.median((pl.total_s - pl.ttft_s - pl.decode_s) * 1000 for pl in plat)
    print(
        "(TTFT: call or request → first non-empty text; decode tok/s: (completion tokens - 1) /"
        " (first → last text), mean over requests; e2e tok/s: completion tokens / (call or"
        " request → end of stream); tokens: completion tokens over all rounds, the platform's"
        " from its non-streamed usage)"
    )
    print(
        f"platform path includes guardrails on input and output: {guard_ms:.2f} ms of CPU per"
        f" request in-process (default policy); after the last text the platform's stream ends"
        f" {tail:.1f} ms later (p50: output guardrails, usage row, quota)"
    )
    print(f"e2e_ratio={rows['platform'][2] / rows['baseline'][2]:.2f}")
    print(f"added_ttft_ms={rows['platform'][0] - rows['baseline'][0]:.1f}")
    print(f"copilot_ratio={rows['platform'][1] / rows['baseline'][1]:.2f}")


if __name__ == "__main__":
    main()
