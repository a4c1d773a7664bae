from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from raylane.core.flags.service import feature_flag_service
from raylane.core.rbac import Permission
from raylane.schemas.common import Page
from raylane.schemas.flags import FLAG_KEY, FeatureFlagRead, FeatureFlagUpsert
from raylane.serve.deps import ActorDep, PageDep, SessionDep, page_of, require
from raylane.serve.routing import Route

router = APIRouter(prefix="/api/v1/feature-flags", tags=["feature flags"], route_class=Route)
FlagKey = Annotated[str, Path(pattern=FLAG_KEY)]


@router.get("", dependencies=[require(Permission.FLAG_READ)])
async def list_feature_flags(session: SessionDep, page: PageDep) -> Page[FeatureFlagRead]:
    result = await feature_flag_service.page(session, limit=page.limit, cursor=page.cursor)
    return page_of(result, FeatureFlagRead)  # type: ignore[no-any-return]


@router.get("/{key}", dependencies=[require(Permission.FLAG_READ)])
async def get_feature_flag(key: FlagKey, session: SessionDep) -> FeatureFlagRead:
    return FeatureFlagRead.model_validate(await feature_flag_service.get(session, key=key))


@router.put("/{key}", dependencies=[require(Permission.FLAG_WRITE)])
async def set_feature_flag(
    key: FlagKey, data: FeatureFlagUpsert, session: SessionDep, actor: ActorDep
) -> FeatureFlagRead:
    """Create or replace a flag for the caller's organization."""
    flag = await feature_flag_service.set(session, actor=actor, key=key, data=data)
    return FeatureFlagRead.model_validate(flag)


@router.delete("/{key}", status_code=204, dependencies=[require(Permission.FLAG_WRITE)])
async def delete_feature_flag(key: FlagKey, session: SessionDep, actor: ActorDep) -> Response:
    await feature_flag_service.delete(session, actor=actor, key=key)
    return Response(status_code=204)
