"""Training runs and predictions."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from raylane.schemas.common import JSON_NUMBER, Bool, Input, Output, RawText
from raylane.schemas.runs import RunRead

PositiveInt = Annotated[int, JSON_NUMBER]
Epochs = Annotated[int, Field(ge=1, le=1000), JSON_NUMBER]
BatchSize = Annotated[int, Field(ge=1, le=4096), JSON_NUMBER]
LearningRate = Annotated[float, Field(gt=0, le=1), JSON_NUMBER]
WeightDecay = Annotated[float, Field(ge=0, le=1), JSON_NUMBER]
Hidden = Annotated[int, Field(ge=0, le=4096), JSON_NUMBER]
Dropout = Annotated[float, Field(ge=0, lt=1), JSON_NUMBER]
Seed = Annotated[int, Field(ge=0, le=2**31 - 1), JSON_NUMBER]
# Fine-tuning a pretrained encoder wants a rate far below the head's; above 1e-3 it forgets.
EncoderLearningRate = Annotated[float, Field(gt=0, le=1e-3), JSON_NUMBER]
# MiniLM was trained on at most 256 tokens; below 8 a text is hardly read.
MaxLength = Annotated[int, Field(ge=8, le=256), JSON_NUMBER]

FROZEN, FINETUNED = "minilm-frozen", "minilm-finetuned"
BASES = (FROZEN, FINETUNED)
# What the fine-tuned base uses when the request leaves them out (filled into the run's params):
# a pretrained encoder converges in a few epochs (~1 minute on the tests' set on two cores).
FINETUNE_DEFAULTS: dict[str, Any] = {"encoder_learning_rate": 5e-5, "max_length": 128}
FINETUNE_EPOCHS = 4


class Hyperparameters(Input):
    """The training settings (``hidden`` 0: a linear head). ``learning_rate`` is the head's;
    ``encoder_learning_rate`` and ``max_length`` (tokens per text) apply to the
    ``minilm-finetuned`` base only."""

    epochs: Epochs = 10
    batch_size: BatchSize = 32
    learning_rate: LearningRate = 1e-2
    weight_decay: WeightDecay = 0.0
    hidden: Hidden = 0
    dropout: Dropout = 0.0
    seed: Seed = 0
    encoder_learning_rate: EncoderLearningRate | None = None
    max_length: MaxLength | None = None


_SPACE = ("learning_rate", "batch_size", "hidden", "weight_decay", "dropout")


def _non_null(schema: dict[str, Any], names: tuple[str, ...]) -> None:
    # An absent field means "not given"; the document offers no null for it, so the rules below
    # (said with required/not) are exactly what the validators enforce.
    props = schema["properties"]
    for name in names:
        props[name] = next(s for s in props[name]["anyOf"] if s.get("type") != "null")


# A grid tries every combination: at most GRID_NAMES hyperparameters of GRID_VALUES values
# each keeps it to 64 trials, a rule the document can state (a product of lengths it cannot).
GRID_NAMES, GRID_VALUES = 3, 4


def _search_space_schema(schema: dict[str, Any]) -> None:
    _non_null(schema, _SPACE)
    schema["anyOf"] = [{"required": [name]} for name in _SPACE]
    too_many = [
        {"required": [n for n in _SPACE if n != left_out]} for left_out in _SPACE
    ]  # any GRID_NAMES + 1 of the five (with five names: every four-name subset)
    schema["if"] = {"properties": {"algorithm": {"const": "random"}}, "required": ["algorithm"]}
    schema["else"] = {
        "properties": {n: {"maxItems": GRID_VALUES} for n in _SPACE},
        "not": {"anyOf": too_many},
    }


def _one_selector_schema(schema: dict[str, Any]) -> None:
    _non_null(schema, ("version", "alias"))
    schema["not"] = {"required": ["version", "alias"]}


class SearchSpace(Input):
    """A Ray Tune search: each listed hyperparameter takes the listed values (grid: every
    combination; random: ``num_samples`` draws), the others keep ``hyperparameters``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_search_space_schema)
    algorithm: Literal["grid", "random"] = "grid"
    num_samples: Annotated[int, Field(ge=1, le=64), JSON_NUMBER] = 4
    scheduler: Literal["asha", "none"] = "asha"
    metric: Literal["val_macro_f1", "val_accuracy", "loss"] = "val_macro_f1"
    learning_rate: list[LearningRate] | None = Field(default=None, min_length=1, max_length=16)
    batch_size: list[BatchSize] | None = Field(default=None, min_length=1, max_length=16)
    hidden: list[Hidden] | None = Field(default=None, min_length=1, max_length=16)
    weight_decay: list[WeightDecay] | None = Field(default=None, min_length=1, max_length=16)
    dropout: list[Dropout] | None = Field(default=None, min_length=1, max_length=16)

    @model_validator(mode="after")
    def _something_to_search(self) -> SearchSpace:
        if not self.space():
            raise ValueError("a search needs at least one hyperparameter with values")
        if self.algorithm == "grid":
            space = self.space()
            if len(space) > GRID_NAMES or any(len(v) > GRID_VALUES for v in space.values()):
                raise ValueError(
                    f"a grid search lists at most {GRID_NAMES} hyperparameters of at most"
                    f" {GRID_VALUES} values each (64 combinations); use a random search for more"
                )
        return self

    def space(self) -> dict[str, list[Any]]:
        return {n: list(v) for n in _SPACE if (v := getattr(self, n)) is not None}


def _base_rules_schema(schema: dict[str, Any]) -> None:
    # The validator's rules, said in the document too (a body the document allows is accepted):
    # a fine-tune takes no search; the frozen base (also when ``base`` is left out) takes no
    # encoder settings.
    schema["if"] = {"properties": {"base": {"const": FINETUNED}}, "required": ["base"]}
    schema["then"] = {"properties": {"search": {"type": "null"}}}
    schema["else"] = {
        "properties": {
            "hyperparameters": {"properties": {n: {"type": "null"} for n in FINETUNE_DEFAULTS}}
        }
    }


class TrainingRunCreate(Input):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_base_rules_schema)

    dataset_version_id: uuid.UUID
    # Where the run logs params, metric series, trials and the model (default: the project's
    # ``training`` experiment).
    experiment_id: uuid.UUID | None = None
    # One-value enums, not ``const``: generated clients read an enum as a closed set.
    task: Annotated[
        Literal["text-classification"], Field(json_schema_extra={"enum": ["text-classification"]})
    ] = "text-classification"
    # ``minilm-frozen``: the bundled MiniLM, frozen, with a trained head (each text embedded once
    # per run). ``minilm-finetuned``: the encoder trained with the head (slower, its own weights).
    base: Annotated[
        Literal["minilm-frozen", "minilm-finetuned"],
        Field(json_schema_extra={"enum": list(BASES)}),
    ] = "minilm-frozen"
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    search: SearchSpace | None = None
    num_workers: Annotated[int, Field(ge=1, le=16), JSON_NUMBER] = 1
    use_gpu: Bool = False
    # Job attempts (the run is retried, then dead-lettered) and, inside one attempt, how many
    # worker failures Ray Train recovers from its last checkpoint.
    max_attempts: Annotated[int, Field(ge=1, le=10), JSON_NUMBER] = 3
    max_failures: Annotated[int, Field(ge=0, le=10), JSON_NUMBER] = 2

    @model_validator(mode="after")
    def _fits_the_base(self) -> TrainingRunCreate:
        tuning = {n for n in FINETUNE_DEFAULTS if getattr(self.hyperparameters, n) is not None}
        if self.base == FROZEN and tuning:
            raise ValueError(
                f"{', '.join(sorted(tuning))} applies to base {FINETUNED!r} only"
                f" (base {FROZEN!r} trains the head alone)"
            )
        if self.base == FINETUNED:
            if self.search is not None:
                # A Tune trial trains over cached embeddings; a fine-tune has none to share.
                raise ValueError(f"a hyperparameter search needs base {FROZEN!r}")
            missing = {n: v for n, v in FINETUNE_DEFAULTS.items() if n not in tuning}
            if "epochs" not in self.hyperparameters.model_fields_set:
                missing["epochs"] = FINETUNE_EPOCHS
            self.hyperparameters = self.hyperparameters.model_copy(update=missing)
        return self


class TrainingRunRead(RunRead):
    """A run of kind ``train`` with its validated request (``params``)."""

    params: dict[str, Any]


class PredictRequest(Input):
    """Texts to classify with a model version named by ``version`` or ``alias``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_selector_schema)

    inputs: list[Annotated[RawText, Field(min_length=1, max_length=10_000)]] = Field(
        min_length=1, max_length=256
    )
    version: Annotated[RawText, Field(min_length=1, max_length=64)] | None = None
    alias: Annotated[RawText, Field(min_length=1, max_length=64)] | None = None

    @model_validator(mode="after")
    def _one_selector(self) -> PredictRequest:
        if self.version is not None and self.alias is not None:
            raise ValueError("name a version or an alias, not both")
        return self


class BatchPredictionCreate(Input):
    """Classify every row of a dataset version as a Ray Data run (latest version unless one
    is named)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_selector_schema)

    dataset_version_id: uuid.UUID
    version: Annotated[RawText, Field(min_length=1, max_length=64)] | None = None
    alias: Annotated[RawText, Field(min_length=1, max_length=64)] | None = None
    max_attempts: Annotated[int, Field(ge=1, le=10), JSON_NUMBER] = 3

    @model_validator(mode="after")
    def _one_selector(self) -> BatchPredictionCreate:
        if self.version is not None and self.alias is not None:
            raise ValueError("name a version or an alias, not both")
        return self


class Prediction(Output):
    label: str
    probabilities: dict[str, float]


class PredictResponse(Output):
    model: str
    version: str
    predictions: list[Prediction]
