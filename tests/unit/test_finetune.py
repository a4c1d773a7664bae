"""The fine-tuned base without Ray: the encoder embeds like the bundled MiniLM, training moves
its weights and lowers the loss, the artifact round-trips to the same predictions, a checkpoint
resumes encoder, head and optimizer, and anything but a known base in safetensors is refused."""

from __future__ import annotations

import json
import pickle
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from raylane.core.training import finetune
from raylane.core.training.classifier import Classifier, load_model, save_model, train_epoch
from raylane.core.training.loop import _restore, _save
from raylane.errors import InvalidInput
from raylane.infra import embeddings

SPORTS = ["The striker scored a goal.", "The team won the match.", "A late penalty won the cup."]
COOKING = ["Whisk the eggs with sugar.", "Bake the cake for an hour.", "Simmer the soup slowly."]
TEXTS, Y = SPORTS + COOKING, torch.tensor([0, 0, 0, 1, 1, 1])
MAX_LENGTH = 16


def batches() -> list[tuple[dict[str, torch.Tensor], torch.Tensor]]:
    return [(finetune.tokenize(TEXTS, max_length=MAX_LENGTH), Y)]


def model_and_optimizer(seed: int = 0) -> tuple[finetune.TextClassifier, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = finetune.build(2)
    opt = finetune.optimizer(
        model, learning_rate=1e-2, encoder_learning_rate=1e-4, weight_decay=0.0
    )
    return model, opt


@pytest.fixture(scope="module")
def trained() -> tuple[Classifier, list[float]]:
    """A fine-tuned classifier after a few steps on the tiny set, and each step's loss."""
    model, opt = model_and_optimizer()
    losses = [loss for _ in range(6) for loss in train_epoch(model, opt, batches())]
    classifier = Classifier(
        head=model.head,
        labels=["sports", "cooking"],
        encoder=embeddings.BUILTIN,
        tuned=model.encoder,
        max_length=MAX_LENGTH,
    )
    return classifier, losses


def rewrite(data: bytes, **meta: str) -> bytes:
    """The artifact's tensors with its metadata changed."""
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    return st_save(st_load(data), metadata=header["__metadata__"] | meta)


class TestEncoder:
    def test_embeds_like_the_bundled_sentence_transformer(self) -> None:
        texts = [*TEXTS, "word " * 40]
        bundled = embeddings.load(str(embeddings.default_model_dir()))
        expected = bundled.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        got = finetune.embed(finetune.Encoder.pretrained(), texts, max_length=256)
        np.testing.assert_allclose(got, expected, atol=1e-5)

    def test_training_moves_the_encoder_and_lowers_the_loss(
        self, trained: tuple[Classifier, list[float]]
    ) -> None:
        classifier, losses = trained
        assert classifier.tuned is not None
        assert losses[-1] < losses[0] * 0.5, losses
        pretrained = finetune.Encoder.pretrained().state_dict()
        moved = [
            name
            for name, value in classifier.tuned.state_dict().items()
            if not torch.equal(value, pretrained[name])
        ]
        # Every layer learned, not only the head on top.
        assert any(".layer.0." in name for name in moved), moved
        assert any(".layer.5." in name for name in moved), moved


class TestArtifact:
    def test_round_trip_predicts_the_same(self, trained: tuple[Classifier, list[float]]) -> None:
        classifier, _ = trained
        data = save_model(classifier)
        loaded = load_model(data)
        assert loaded.base == finetune.FINETUNED and loaded.tuned is not None
        assert loaded.labels == classifier.labels and loaded.max_length == MAX_LENGTH
        np.testing.assert_allclose(
            loaded.predict_texts(TEXTS), classifier.predict_texts(TEXTS), atol=1e-6
        )
        assert [loaded.labels[i] for i in loaded.predict_texts(TEXTS).argmax(1)] == [
            "sports"
        ] * 3 + ["cooking"] * 3

    def test_names_the_bundled_tokenizer_and_config_without_copying_them(
        self, trained: tuple[Classifier, list[float]]
    ) -> None:
        data = save_model(trained[0])
        size = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + size])
        meta = header.pop("__metadata__")
        assert meta["base"] == finetune.FINETUNED
        assert meta["encoder"] == meta["tokenizer"] == embeddings.BUILTIN
        assert meta["encoder_fingerprint"] == finetune.fingerprint()
        assert {k.split(".", 1)[0] for k in header} == {"encoder", "head"}  # tensors only

    def test_a_frozen_artifact_with_a_forged_shape_is_refused_unbuilt(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        head = finetune.build(2, pretrained=False).head
        data = save_model(Classifier(head=head, labels=["a", "b"], encoder=embeddings.BUILTIN))
        built: list[int] = []
        monkeypatch.setattr(
            "raylane.core.training.classifier.Head.__init__",
            lambda self, dim, *_a, **_k: built.append(dim),
        )
        with pytest.raises(InvalidInput):
            load_model(rewrite(data, dim="1000000", hidden="1000000"))
        assert built == []

    def test_a_frozen_artifact_still_loads_and_shares_the_bundled_encoder(self) -> None:
        head = finetune.build(2, pretrained=False).head
        frozen = Classifier(head=head, labels=["a", "b"], encoder=embeddings.BUILTIN)
        loaded = load_model(save_model(frozen))
        assert loaded.base == finetune.FROZEN and loaded.tuned is None

    def test_a_pickle_is_refused_and_never_run(self, tmp_path: Path) -> None:
        marker = tmp_path / "unpickled"

        class Exploit:
            def __reduce__(self) -> tuple[Any, ...]:
                return (Path.touch, (marker,))

        model, _ = model_and_optimizer()
        for payload in (pickle.dumps(Exploit()), pickle.dumps(model.state_dict())):
            with pytest.raises(InvalidInput):
                load_model(payload)
        assert not marker.exists()

    @pytest.mark.parametrize(
        "meta",
        [
            {"base": "gpt-finetuned"},  # a base this platform does not know
            {"base": "minilm-frozen"},  # encoder tensors where a frozen head is said
            {"encoder_fingerprint": "0" * 64},  # tuned from another build of MiniLM
            {"tokenizer": "bert-base-uncased"},  # the tokenizer must be the bundled one
            {"max_length": "100000"},
            {"format": "something/else"},
            # A forged shape is refused before the head is built (no 10^12-weight allocation).
            {"dim": "1000000", "hidden": "1000000"},
            {"labels": json.dumps([str(i) for i in range(100_000)])},
        ],
    )
    def test_anything_else_is_refused(
        self, trained: tuple[Classifier, list[float]], meta: dict[str, str]
    ) -> None:
        with pytest.raises(InvalidInput):
            load_model(rewrite(save_model(trained[0]), **meta))


class TestCheckpoint:
    def test_resume_restores_encoder_head_and_both_optimizer_groups(self, tmp_path: Path) -> None:
        model, opt = model_and_optimizer()
        list(train_epoch(model, opt, batches()))
        _save(str(tmp_path), model, opt, epoch=2)
        torch.manual_seed(7)  # the same dropout masks on both paths
        list(train_epoch(model, opt, batches()))  # where an uninterrupted run goes next

        resumed, resumed_opt = model_and_optimizer(seed=1)  # another head: overwritten below
        assert _restore(str(tmp_path), resumed, resumed_opt) == 2
        assert [g["lr"] for g in resumed_opt.param_groups] == [1e-4, 1e-2]
        torch.manual_seed(7)
        list(train_epoch(resumed, resumed_opt, batches()))
        for a, b in zip(model.parameters(), resumed.parameters(), strict=True):
            torch.testing.assert_close(a, b)  # the same step as without the interruption


class TestCli:
    def test_train_start_sends_the_base_and_the_encoder_settings(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        from typer.testing import CliRunner

        from raylane.cli import context
        from raylane.cli.main import app
        from tests.unit.fake_api import API_KEY, BASE_URL, FakeApi, isolate_env, run_json

        isolate_env(monkeypatch, tmp_path)
        project, version = "6f1c1f8e-7d3c-4a56-9d55-0a1b2c3d4e5f", str(uuid.uuid4())
        api = FakeApi().on(
            "POST",
            f"/api/v1/projects/{project}/training-runs",
            status=202,
            body=run_json(status="queued", kind="train") | {"params": {}},
        )
        context.set_transport_factory(api.transport)
        try:
            result = CliRunner().invoke(
                app,
                [
                    *("--url", BASE_URL, "--api-key", API_KEY, "train", "start", "-p", project),
                    *("--dataset-version", version, "--base", "minilm-finetuned"),
                    *("--encoder-lr", "2e-5", "--max-length", "64", "--no-watch", "-o", "json"),
                ],
            )
        finally:
            context.set_transport_factory(None)
        assert result.exit_code == 0, result.output
        body = json.loads(api.last().content)
        assert body["base"] == "minilm-finetuned"
        hyper = body["hyperparameters"]
        assert (hyper["encoder_learning_rate"], hyper["max_length"]) == (2e-5, 64)


class TestDocument:
    """The fuzzer's promise: a body the OpenAPI document allows is accepted, one it refuses is
    refused, for the rules between ``base``, ``search`` and the encoder settings."""

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"base": "minilm-finetuned"},
            {"base": "minilm-finetuned", "hyperparameters": {"max_length": 64}},
            {"base": "minilm-finetuned", "search": None},
            {"base": "minilm-finetuned", "search": {"learning_rate": [0.1]}},
            {"base": "minilm-frozen", "search": {"learning_rate": [0.1]}},
            {"hyperparameters": {"encoder_learning_rate": 1e-5}},
            {"base": "minilm-frozen", "hyperparameters": {"max_length": 64}},
            {"base": "minilm-frozen", "hyperparameters": {"max_length": None}},
            {"base": "minilm-finetuned", "hyperparameters": {"encoder_learning_rate": 0.5}},
        ],
    )
    def test_the_document_and_the_validator_agree(self, body: dict[str, Any]) -> None:
        import jsonschema
        import pydantic

        from raylane.schemas.training import TrainingRunCreate
        from raylane.serve.app import create_app

        doc = create_app().openapi()
        schema = doc["components"]["schemas"]["TrainingRunCreate"] | {
            "components": doc["components"]
        }
        body = {"dataset_version_id": str(uuid.uuid4())} | body
        by_document = jsonschema.Draft202012Validator(schema).is_valid(body)
        try:
            TrainingRunCreate.model_validate(body)
            by_validator = True
        except pydantic.ValidationError:
            by_validator = False
        assert by_document == by_validator, body
