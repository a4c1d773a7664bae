from __future__ import annotations

import uuid

from fastapi import APIRouter

from raylane.core.apikeys.service import api_key_service
from raylane.core.rbac import Permission
from raylane.schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from raylane.schemas.common import Page
from raylane.serve.deps import ActorDep, PageDep, PlatformDep, SessionDep, page_of, require
from raylane.serve.routing import Route

router = APIRouter(prefix="/api/v1/api-keys", tags=["api keys"], route_class=Route)


@router.post("", status_code=201, dependencies=[require(Permission.APIKEY_SELF)])
async def create_api_key(
    data: ApiKeyCreate, session: SessionDep, actor: ActorDep, platform: PlatformDep
) -> ApiKeyCreated:
    """Create a key; the secret is in this response and nowhere else, ever."""
    key, token = await api_key_service.create(
        session, actor=actor, data=data, default_ttl_days=platform.settings.api_key_ttl_days
    )
    return ApiKeyCreated(**ApiKeyRead.model_validate(key).model_dump(), secret=token)


@router.get("", dependencies=[require(Permission.APIKEY_SELF)])
async def list_api_keys(session: SessionDep, actor: ActorDep, page: PageDep) -> Page[ApiKeyRead]:
    result = await api_key_service.page(session, actor=actor, limit=page.limit, cursor=page.cursor)
    return page_of(result, ApiKeyRead)  # type: ignore[no-any-return]


@router.get("/{key_id}", dependencies=[require(Permission.APIKEY_SELF)])
async def get_api_key(key_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> ApiKeyRead:
    return ApiKeyRead.model_validate(await api_key_service.get(session, actor=actor, key_id=key_id))


@router.delete("/{key_id}", dependencies=[require(Permission.APIKEY_SELF)])
async def revoke_api_key(key_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> ApiKeyRead:
    """Revoke a key; requests with it fail from the next one on."""
    key = await api_key_service.revoke(session, actor=actor, key_id=key_id)
    return ApiKeyRead.model_validate(key)
