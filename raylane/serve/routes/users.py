from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from raylane.core.rbac import Permission
from raylane.core.tenancy.service import member_service
from raylane.schemas.common import Page
from raylane.schemas.tenancy import UserCreate, UserRead, UserUpdate
from raylane.serve.deps import ActorDep, PageDep, SessionDep, page_of, require
from raylane.serve.routing import Route

router = APIRouter(prefix="/api/v1/users", tags=["users"], route_class=Route)


@router.get("", dependencies=[require(Permission.USER_READ)])
async def list_users(session: SessionDep, page: PageDep) -> Page[UserRead]:
    result = await member_service.page(session, limit=page.limit, cursor=page.cursor)
    return page_of(result, UserRead)  # type: ignore[no-any-return]


@router.post("", status_code=201, dependencies=[require(Permission.USER_WRITE)])
async def create_user(data: UserCreate, session: SessionDep, actor: ActorDep) -> UserRead:
    """Add a member with a role (at most the caller's own)."""
    return UserRead.model_validate(await member_service.create(session, actor=actor, data=data))


@router.get("/{user_id}", dependencies=[require(Permission.USER_READ)])
async def get_user(user_id: uuid.UUID, session: SessionDep) -> UserRead:
    return UserRead.model_validate(await member_service.get(session, user_id=user_id))


@router.patch("/{user_id}", dependencies=[require(Permission.USER_WRITE)])
async def update_user(
    user_id: uuid.UUID, data: UserUpdate, session: SessionDep, actor: ActorDep
) -> UserRead:
    member = await member_service.update(session, actor=actor, user_id=user_id, data=data)
    return UserRead.model_validate(member)


@router.delete("/{user_id}", status_code=204, dependencies=[require(Permission.USER_WRITE)])
async def remove_user(user_id: uuid.UUID, session: SessionDep, actor: ActorDep) -> Response:
    """Remove the membership and revoke the member's keys in this organization."""
    await member_service.remove(session, actor=actor, user_id=user_id)
    return Response(status_code=204)
