"""The model registry: registered models, versions from tracking runs' artifacts, aliases.

``POST /models/{name}/predict`` lives with serving (its own route file, same prefix); it finds
the version with ``registry_service.resolve``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.rbac import Permission
from raylane.core.registry.models import ModelVersion, RegisteredModel
from raylane.core.registry.service import registry_service
from raylane.schemas.common import NUL_FREE, Page
from raylane.schemas.registry import (
    ALIAS,
    AliasRead,
    AliasSet,
    Lineage,
    ModelCreate,
    ModelRead,
    ModelUpdate,
    ModelVersionCreate,
    ModelVersionRead,
)
from raylane.serve.deps import ActorDep, PageDep, SessionDep, require
from raylane.serve.routing import Route

router = APIRouter(prefix="/api/v1", tags=["models"], route_class=Route)
READ = [require(Permission.MODEL_READ)]
WRITE = [require(Permission.MODEL_WRITE)]
# Path segments are looked up, not validated against the create rules: a name that no model
# has answers 404 like another organization's model.
NameParam = Annotated[str, Path(max_length=200, pattern=NUL_FREE)]
RefParam = Annotated[
    str, Path(max_length=200, pattern=NUL_FREE, description="a number, an alias or latest")
]
AliasParam = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=ALIAS,
        description="lowercase letters, digits, _ and -, not all digits; not latest",
    ),
]


async def _model(session: AsyncSession, model: RegisteredModel) -> ModelRead:
    read = ModelRead.model_validate(model)
    read.aliases = await registry_service.aliases(session, model=model)
    return read


async def _version(
    session: AsyncSession, version: ModelVersion, *, lineage: bool = False
) -> ModelVersionRead:
    read = ModelVersionRead.model_validate(version)
    read.aliases = await registry_service.version_aliases(session, version=version)
    if lineage:
        read.lineage = Lineage(**await registry_service.lineage(session, version=version))
    return read


@router.post("/models", status_code=201, dependencies=WRITE)
async def create_registered_model(
    data: ModelCreate, session: SessionDep, actor: ActorDep
) -> ModelRead:
    """Register a model name (unique in the organization)."""
    model = await registry_service.create_model(
        session, actor=actor, name=data.name, description=data.description, tags=data.tags
    )
    return await _model(session, model)


@router.get("/models", dependencies=READ)
async def list_registered_models(session: SessionDep, page: PageDep) -> Page[ModelRead]:
    result = await registry_service.page_models(session, limit=page.limit, cursor=page.cursor)
    items = [await _model(session, m) for m in result.items]
    return Page[ModelRead](items=items, next_cursor=result.next_cursor)


@router.get("/models/{model_name}", dependencies=READ)
async def get_registered_model(model_name: NameParam, session: SessionDep) -> ModelRead:
    return await _model(session, await registry_service.get_model(session, name=model_name))


@router.patch("/models/{model_name}", dependencies=WRITE)
async def update_registered_model(
    model_name: NameParam, data: ModelUpdate, session: SessionDep, actor: ActorDep
) -> ModelRead:
    """Change the description or the tags (the given tags replace the old ones)."""
    model = await registry_service.update_model(
        session, actor=actor, name=model_name, fields=data.model_dump(exclude_unset=True)
    )
    return await _model(session, model)


@router.post("/models/{model_name}/versions", status_code=201, dependencies=WRITE)
async def create_model_version(
    model_name: NameParam, data: ModelVersionCreate, session: SessionDep, actor: ActorDep
) -> ModelVersionRead:
    """The model's next version, from a tracking run's artifact (lineage recorded)."""
    version = await registry_service.create_version(
        session,
        actor=actor,
        name=model_name,
        experiment_run_id=data.experiment_run_id,
        artifact_path=data.artifact_path,
        description=data.description,
        tags=data.tags,
        signature=None if data.signature is None else data.signature.model_dump(),
    )
    return await _version(session, version, lineage=True)


@router.get("/models/{model_name}/versions", dependencies=READ)
async def list_model_versions(
    model_name: NameParam, session: SessionDep, page: PageDep
) -> Page[ModelVersionRead]:
    """The model's versions, newest first."""
    result = await registry_service.versions(
        session, name=model_name, limit=page.limit, cursor=page.cursor
    )
    items = [await _version(session, v) for v in result.items]
    return Page[ModelVersionRead](items=items, next_cursor=result.next_cursor)


@router.get("/models/{model_name}/versions/{version}", dependencies=READ)
async def get_model_version(
    model_name: NameParam, version: RefParam, session: SessionDep
) -> ModelVersionRead:
    """One version by number, alias or ``latest``, with its lineage."""
    found = await registry_service.resolve(session, model_name, version)
    return await _version(session, found, lineage=True)


@router.get("/models/{model_name}/aliases/{alias}", dependencies=READ)
async def get_model_alias(
    model_name: NameParam, alias: AliasParam, session: SessionDep
) -> ModelVersionRead:
    """The version an alias points at, with its lineage."""
    found = await registry_service.resolve(session, model_name, alias)
    return await _version(session, found, lineage=True)


@router.put("/models/{model_name}/aliases/{alias}", dependencies=WRITE)
async def set_model_alias(
    model_name: NameParam, alias: AliasParam, data: AliasSet, session: SessionDep, actor: ActorDep
) -> AliasRead:
    """Point an alias (``production``, ``staging``, any lowercase name) at a version,
    atomically; the audit log records the version that held it before."""
    target, previous = await registry_service.set_alias(
        session, actor=actor, name=model_name, alias=alias, version=data.version
    )
    return AliasRead(alias=alias, version=target.version, previous_version=previous)


@router.delete("/models/{model_name}/aliases/{alias}", status_code=204, dependencies=WRITE)
async def delete_model_alias(
    model_name: NameParam, alias: AliasParam, session: SessionDep, actor: ActorDep
) -> Response:
    await registry_service.delete_alias(session, actor=actor, name=model_name, alias=alias)
    return Response(status_code=204)
