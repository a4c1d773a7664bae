"""The ``Idempotency-Key`` header of run-creating routes, as one dependency.

A route that creates a run declares ``idem: IdempotencyDep`` and wraps its work::

    return await idem.once(session, actor, RunRead, lambda: start(...))

Without the header the work simply runs. With it, the first request's answer is stored with
the key (same transaction) and every later request with the same key and the same request gets
that answer again, status and body, with ``Idempotent-Replayed: true``; the same key with
another request is a 409 ``idempotency_key_reused``. Keys are per organization and per route,
kept 24 hours. The header is declared here, so the OpenAPI document shows it on every such
route. The rules themselves live in :mod:`raylane.core.runs.idempotency`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.rbac import Actor
from raylane.core.runs import idempotency

M = TypeVar("M", bound=BaseModel)

REPLAYED_HEADER = "Idempotent-Replayed"
# Visible ASCII only: a key is an opaque token (a UUID is the usual choice), never text.
KEY_PATTERN = r"^[\x21-\x7e]+$"


@dataclass(frozen=True)
class Idempotency:
    """One request's key (None: not sent), scope and fingerprint."""

    key: str | None
    scope: str
    fingerprint: str
    status_code: int
    response: Response

    async def once(
        self,
        session: AsyncSession,
        actor: Actor,
        model: type[M],
        create: Callable[[], Awaitable[M]],
    ) -> M:
        """Run ``create`` once per key; answer the stored first answer to a repeat.

        Raises:
            IdempotencyKeyReused: the key was first sent with another request (409).
        """
        if self.key is None:
            return await create()

        async def work() -> tuple[int, dict[str, Any]]:
            return self.status_code, (await create()).model_dump(mode="json")

        answer = await idempotency.once(
            session,
            organization_id=actor.organization_id,
            scope=self.scope,
            key=self.key,
            fingerprint=self.fingerprint,
            create=work,
        )
        if answer.replayed:
            self.response.headers[REPLAYED_HEADER] = "true"
            self.response.status_code = answer.status_code
        return model.model_validate(answer.body)


async def idempotency_key(
    request: Request,
    response: Response,
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=idempotency.MAX_KEY_LENGTH,
            pattern=KEY_PATTERN,
            description=(
                "Makes the request safe to retry: the same key with the same request answers "
                "the first answer again (same run, status and body, with "
                "`Idempotent-Replayed: true`) instead of creating another run; the same key "
                "with another body, path or query is a 409 `idempotency_key_reused`. Scoped "
                "to your organization and this route, kept 24 hours. 1-255 visible ASCII "
                "characters; a UUID is a good key."
            ),
        ),
    ] = None,
) -> Idempotency:
    route = request.scope.get("route")
    template = getattr(route, "path", request.url.path)
    body = await request.body()  # cached by Starlette: the route still reads it
    return Idempotency(
        key=key,
        scope=f"{request.method} {template}",
        fingerprint=idempotency.fingerprint(
            request.method, request.url.path, request.url.query, body
        ),
        status_code=getattr(route, "status_code", None) or 200,
        response=response,
    )


IdempotencyDep = Annotated[Idempotency, Depends(idempotency_key)]
