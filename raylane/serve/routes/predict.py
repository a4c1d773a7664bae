"""Predict with a served model version, by alias or version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from raylane.core.rbac import Permission
from raylane.core.training import tracking
from raylane.core.training.service import training_service
from raylane.schemas.training import (
    BatchPredictionCreate,
    Prediction,
    PredictRequest,
    PredictResponse,
    TrainingRunRead,
)
from raylane.serve.deps import ActorDep, PlatformDep, SessionDep, release, require
from raylane.serve.idempotency import IdempotencyDep
from raylane.serve.models import LocalModels, Predictor
from raylane.serve.routing import Route

router = APIRouter(prefix="/api/v1/models", tags=["models"], route_class=Route)

ModelName = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\u0000]*$")]


def predictor(request: Request) -> Predictor:
    """The app's predictor: ``ModelServer`` under Serve, else an in-process LRU made once."""
    state = request.app.state
    if getattr(state, "predictor", None) is None:
        state.predictor = LocalModels()
    found: Predictor = state.predictor
    return found


@router.post("/{model_name}/predict", dependencies=[require(Permission.MODEL_READ)])
async def predict(
    model_name: ModelName,
    data: PredictRequest,
    session: SessionDep,
    platform: PlatformDep,
    request: Request,
) -> PredictResponse:
    """Labels and class probabilities for each input (latest version unless one is named)."""
    ref = await tracking.resolve_model(
        session, name=model_name, version=data.version, alias=data.alias
    )
    # The model embeds and classifies up to 256 texts: hold no database connection meanwhile.
    await release(platform, session)
    rows = await predictor(request).predict(ref, data.inputs)
    return PredictResponse(
        model=ref.name,
        version=ref.version,
        predictions=[Prediction.model_validate(r) for r in rows],
    )


@router.post(
    "/{model_name}/batch-predictions", status_code=202, dependencies=[require(Permission.RUN_WRITE)]
)
async def create_batch_prediction(
    model_name: ModelName,
    data: BatchPredictionCreate,
    session: SessionDep,
    actor: ActorDep,
    idem: IdempotencyDep,
) -> TrainingRunRead:
    """Queue a batch prediction over a dataset version (a Ray Data run); its result names the
    predictions' object, the counts and the accuracy where the rows carry labels."""

    async def start() -> TrainingRunRead:
        run = await training_service.batch_predict(session, actor=actor, name=model_name, data=data)
        return TrainingRunRead.model_validate(run)

    return await idem.once(session, actor, TrainingRunRead, start)
