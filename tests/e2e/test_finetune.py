"""The fine-tuned base on the real stack ``raylane up`` starts: the training run is a submitted
Ray job whose checkpoints go to the S3-compatible store every epoch, the registered version is
answered by the ``ModelServer`` deployment (multiplexed) with its own encoder, and the CLI's
request that the document refuses (a search over a fine-tune) queues nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from raylane.client import Client
from tests.e2e.conftest import Stack
from tests.e2e.corpus import new_tenant

DATA = Path(__file__).resolve().parents[1] / "data" / "train_small.jsonl"
TEXTS = [
    "The striker scored twice in the second half of the cup final.",
    "Whisk the eggs with sugar, then fold in the flour and bake for thirty minutes.",
]


@pytest.mark.timeout(1200)
def test_a_finetuned_model_trains_as_a_job_and_serves_its_own_encoder(stack: Stack) -> None:
    key = new_tenant(stack)
    with Client(stack.url, key) as client:
        project = client.projects.create(name="finetune-e2e")
        dataset = client.datasets.create(project.id, name="topics")
        version = client.datasets.upload(dataset.id, DATA).version
        run = client.training.create(
            project.id, dataset_version_id=version.id, base="minilm-finetuned"
        )
        done = client.runs.wait(run.id, timeout=900)
        assert done.status == "succeeded", done.error
        result = done.result
        assert result["base"] == "minilm-finetuned"
        assert result["evaluation"]["accuracy"] >= result["majority_baseline"] + 0.4, result
        assert [h["epoch"] for h in done.progress["history"]] == [1, 2, 3, 4]

        client.models.create(name="topics-tuned")
        client.models.create_version(
            "topics-tuned",
            experiment_run_id=result["experiment_run_id"],
            artifact_path=result["artifact_path"],
        )
        client.models.set_alias("topics-tuned", "production", version=1)
        answer = client.training.predict("topics-tuned", TEXTS, alias="production")
        assert [p.label for p in answer.predictions] == ["sports", "cooking"]

        runs_before = len(client.runs.list(limit=100).items)
        bad = stack.cli(
            "--url",
            stack.url,
            "--api-key",
            key,
            "train",
            "start",
            "--project",
            str(project.id),
            "--dataset-version",
            str(version.id),
            "--base",
            "minilm-finetuned",
            "--search",
            "grid",
            "--search-lr",
            "0.1,0.01",
            "--no-watch",
            check=False,
        )
        assert bad.returncode != 0 and "search" in bad.stderr + bad.stdout, bad
        assert len(client.runs.list(limit=100).items) == runs_before
