"""The ingest job's planning logic: how chunks are ordered and how large the actor pool is."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from raylane.jobs import ingest


def test_parse_documents_returns_each_blocks_chunks_longest_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fake_parse(row: dict[str, Any], **_: Any) -> list[dict[str, Any]]:
        doc = str(row["document_id"])
        return [
            {
                "document_id": doc,
                "metadata": "{}",
                "chunk_index": i,
                "text": f"{doc}-{i}",
                "token_count": tokens,
                "content_hash": "h",
                "error": "",
            }
            for i, tokens in enumerate({"a": [120, 30], "b": [200, 80, 5]}[doc])
        ]

    monkeypatch.setattr(ingest, "parse_and_chunk", fake_parse)
    monkeypatch.setattr(ingest, "parse_block", lambda rows: [[] for _ in rows])
    out = ingest.parse_documents(
        {"document_id": np.array(["a", "b"]), "object_key": np.array(["ka", "kb"])},
        model_dir="m",
        max_tokens=200,
        overlap=40,
    )
    assert set(out) == set(ingest.CHUNK_COLUMNS)
    assert out["token_count"] == [200, 120, 80, 30, 5]
    assert out["text"] == ["b-0", "a-0", "b-1", "a-1", "b-2"]


@pytest.mark.parametrize(
    ("cpus", "cluster", "expected"),
    [
        (2, {"CPU": 8, "memory": 16e9, "workload_embeddings": 100}, 2),  # this laptop: by cores
        (16, {"CPU": 16, "memory": 8 * 1024**3, "workload_embeddings": 100}, 4),  # 2 GiB each
        (16, {"CPU": 16, "memory": 64e9, "workload_embeddings": 3}, 3),  # embedding slots
        (8, {"CPU": 8, "memory": 64e9}, 1),  # no embedding nodes up yet: one, to scale from
    ],
)
def test_default_pool_never_asks_for_more_than_the_cluster_holds(
    monkeypatch: pytest.MonkeyPatch, cpus: int, cluster: dict[str, float], expected: int
) -> None:
    import ray

    monkeypatch.setattr(ray, "cluster_resources", lambda: cluster)
    monkeypatch.setattr(ingest.os, "cpu_count", lambda: cpus)
    options = {"num_cpus": 1, "resources": {"workload_embeddings": 1}, "memory": 2 * 1024**3}
    assert ingest._default_pool(1, options) == expected
