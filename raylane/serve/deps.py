"""Annotated dependencies: the tenant session, the actor, permissions and paging."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.rbac import Actor, Permission
from raylane.errors import Unauthenticated, WrongRegion
from raylane.serve.middleware import client_address
from raylane.serve.platform import Platform

# Dependencies that do not block are ``async def``: FastAPI runs a plain ``def`` dependency in a
# worker thread, a hop that costs more than these functions themselves.


async def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("missing bearer API key (Authorization: Bearer rl_...)")
    return token.strip()


async def tenant_session(request: Request, platform: PlatformDep) -> AsyncIterator[AsyncSession]:
    """Authenticate, rate-limit, and open the request's one transaction scoped to the tenant
    (the gate scopes it).

    Commits when the route returns (before the response is sent), rolls back on any error.
    """
    token = _bearer(request)
    settings, gate = platform.settings, platform.gate
    async with platform.db.session() as session:
        actor, admission = await gate.admit(
            session,
            token,
            request_id=request.state.request_id,
            ip=client_address(request.scope, settings.api.trusted_proxies),
        )
        if actor.region and actor.region != settings.region:
            raise WrongRegion(
                f"this organization's data is pinned to region {actor.region!r}; this deployment "
                f"serves {settings.region!r}: use that region's endpoint"
            )
        request.state.actor = actor
        request.state.organization_id = actor.organization_id
        request.state.admission = admission
        yield session
        await gate.before_commit(session)
    await gate.after_commit(session)


SessionDep = Annotated[AsyncSession, Depends(tenant_session, scope="function")]


async def read_session(
    request: Request, platform: PlatformDep, session: SessionDep
) -> AsyncIterator[AsyncSession]:
    """A tenant-scoped session on the read replica (the request's own session without one)."""
    if platform.read_db is platform.db:
        yield session
        return
    actor: Actor = request.state.actor
    async with platform.read_db.session(organization_id=actor.organization_id) as replica:
        yield replica


ReadSessionDep = Annotated[AsyncSession, Depends(read_session, scope="function")]


async def current_actor(request: Request, session: SessionDep) -> Actor:
    actor: Actor = request.state.actor
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]


async def release(platform: Platform, session: AsyncSession) -> None:
    """Commit the request's transaction and give its connection back to the pool, before a
    route waits on slow work (a model's answer); the route must not use the session after."""
    await platform.gate.before_commit(session)
    await session.commit()
    await session.close()


async def released_actor(request: Request, platform: PlatformDep, session: SessionDep) -> Actor:
    """The caller, for routes that wait on slow work from the start: the request's transaction
    (authentication, rate limits) is released here (see ``release``), so a waiting route holds
    no connection; such a route opens short transactions of its own."""
    await release(platform, session)
    actor: Actor = request.state.actor
    return actor


ReleasedActorDep = Annotated[Actor, Depends(released_actor)]


def require(permission: Permission) -> Any:
    """A route dependency that admits only actors holding ``permission``.

    The returned object carries ``.permission`` so tests can read every route's requirement.
    """

    async def check(actor: ActorDep) -> None:
        actor.require(permission)

    check.permission = permission  # type: ignore[attr-defined]
    return Depends(check)


@dataclass(frozen=True)
class PageParams:
    limit: int
    cursor: str | None


async def page_params(
    platform: PlatformDep,
    limit: Annotated[int | None, Query(ge=1, description="page size (capped)")] = None,
    cursor: Annotated[
        uuid.UUID | None, Query(description="`next_cursor` of the previous page")
    ] = None,
) -> PageParams:
    api = platform.settings.api
    return PageParams(
        min(limit or api.page_size_default, api.page_size_max),
        None if cursor is None else str(cursor),
    )


PageDep = Annotated[PageParams, Depends(page_params)]


def page_of(page: Any, schema: Any) -> Any:
    """Turn a core Page of rows into the wire ``Page[schema]``."""
    from raylane.schemas.common import Page

    return Page[schema](
        items=[schema.model_validate(i) for i in page.items], next_cursor=page.next_cursor
    )
