"""The copilot through Ray Serve (ApiIngress → Copilot → Embedder + LLM), over real HTTP."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai

from tests.e2e.conftest import Stack
from tests.e2e.corpus import http_client, new_collection, new_tenant, wait_run

QUESTION = "How does Raylane keep one organization from reading another organization's rows?"


def _project_of(http: httpx.Client, collection_id: str) -> str:
    return str(http.get(f"/api/v1/collections/{collection_id}").json()["project_id"])


def test_chat_cites_the_right_document(stack: Stack, ingested: dict[str, Any]) -> None:
    with http_client(stack, ingested["token"]) as http:
        project = _project_of(http, ingested["collection_id"])
        r = http.post(
            f"/api/v1/projects/{project}/copilot/chat",
            json={"messages": [{"role": "user", "content": QUESTION}], "max_tokens": 48},
        )
        assert r.status_code == 200, r.text
        body = r.json()
    assert body["answer"].strip()
    assert body["citations"][0]["document_name"] == "isolation.md"
    assert body["usage"]["completion_tokens"] > 0 and body["conversation_id"]


def test_stream_arrives_token_by_token_over_http(stack: Stack, ingested: dict[str, Any]) -> None:
    with http_client(stack, ingested["token"]) as http:
        project = _project_of(http, ingested["collection_id"])
        arrivals: list[tuple[float, str]] = []
        body = {
            "messages": [{"role": "user", "content": QUESTION}],
            "max_tokens": 32,
            "stream": True,
        }
        with http.stream("POST", f"/api/v1/projects/{project}/copilot/chat", json=body) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if line.startswith("event: "):
                    arrivals.append((time.monotonic(), line[7:]))
    kinds = [k for _, k in arrivals]
    assert kinds[:2] == ["conversation", "citations"] and kinds[-1] == "done"
    tokens = [t for t, k in arrivals if k == "token"]
    assert len(tokens) >= 2 and tokens[-1] > tokens[0]  # several events, spread over time


def test_official_openai_client_works(stack: Stack, ingested: dict[str, Any]) -> None:
    with http_client(stack, ingested["token"]) as http:
        project = _project_of(http, ingested["collection_id"])
    client = openai.OpenAI(base_url=f"{stack.url}/v1", api_key=ingested["token"])
    models = {m.id for m in client.models.list()}
    assert f"copilot/{project}" in models
    reply = client.chat.completions.create(
        model=f"copilot/{project}", messages=[{"role": "user", "content": QUESTION}], max_tokens=24
    )
    assert reply.choices[0].message.content and reply.usage and reply.usage.completion_tokens > 0
    chunks = list(
        client.chat.completions.create(
            model=f"copilot/{project}",
            messages=[{"role": "user", "content": "Hi"}],
            max_tokens=8,
            stream=True,
        )
    )
    assert any(c.choices and c.choices[0].delta.content for c in chunks)
    try:
        openai.OpenAI(base_url=f"{stack.url}/v1", api_key="rl_wrong").models.list()
        raise AssertionError("a bad key must be refused")
    except openai.AuthenticationError:
        pass


def test_retrieval_never_crosses_tenants(stack: Stack, ingested: dict[str, Any]) -> None:
    other = new_tenant(stack)
    with http_client(stack, other) as http:
        collection = new_collection(http, "b-kb")
        r = http.post(
            f"/api/v1/collections/{collection}/documents/text",
            json={
                "documents": [
                    {
                        "name": "b-pasta.txt",
                        "text": "Tenant B cooks spaghetti for exactly eleven minutes.",
                    }
                ]
            },
        )
        assert r.status_code == 201
        assert (
            wait_run(http, http.post(f"/api/v1/collections/{collection}/ingest").json()["id"])[
                "status"
            ]
            == "succeeded"
        )
        own = {
            d["id"] for d in http.get(f"/api/v1/collections/{collection}/documents").json()["items"]
        }
        project = _project_of(http, collection)
        answer = http.post(
            f"/api/v1/projects/{project}/copilot/chat",
            json={
                "messages": [{"role": "user", "content": "How long do I boil pasta?"}],
                "max_tokens": 8,
                "top_k": 10,
                # Retrieval itself is what is checked: the model answers from what it got
                # (an extractive answer would refuse, with no citations, on no shared word).
                "answer_mode": "generative",
            },
        ).json()
        assert answer["citations"] and {c["document_id"] for c in answer["citations"]} <= own
        with http_client(stack, ingested["token"]) as a:
            theirs = _project_of(a, ingested["collection_id"])
        assert (
            http.post(
                f"/api/v1/projects/{theirs}/copilot/chat",
                json={"messages": [{"role": "user", "content": "pasta"}]},
            ).status_code
            == 404
        )


def test_first_start_demo_answers_with_citations(stack: Stack) -> None:
    with http_client(stack, stack.admin_key) as http:
        runs = http.get("/api/v1/runs", params={"kind": "ingest"}).json()["items"]
        demo = min(runs, key=lambda r: r["created_at"])
        assert wait_run(http, demo["id"])["status"] == "succeeded"
    out = stack.cli("chat", "How do I scale embeddings?", "--max-tokens", "48")
    assert out.stdout.strip() and "scaling.md" in out.stdout + out.stderr
    usage = json.loads(stack.cli("usage", "--output", "json").stdout)
    assert usage["tokens_used_today"] > 0
