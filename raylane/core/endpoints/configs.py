"""Copilot configurations: versioned, content-addressed bundles of what a copilot answers with
(system prompt, answer mode, retrieval, generation settings, guardrail policy, and the LLM: the
platform's or the tenant's own OpenAI-compatible endpoint), so a new prompt, policy or model can
be served behind an endpoint and canaried like a model version.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.audit import audit_service
from raylane.core.collections.repository import CollectionRepository
from raylane.core.copilot.engine import ChatRequest
from raylane.core.endpoints.models import CopilotConfig, CopilotConfigVersion
from raylane.core.endpoints.repository import (
    CopilotConfigRepository,
    CopilotConfigVersionRepository,
)
from raylane.core.projects.service import project_service
from raylane.core.rbac import Actor, Permission
from raylane.errors import InvalidInput, NotFound
from raylane.infra.db.paging import Page
from raylane.infra.db.session import conflict_on_duplicate
from raylane.infra.egress import EgressDenied, check_url
from raylane.infra.llm.external import SEALED_KEY
from raylane.infra.secrets import fingerprint, open_sealed, seal
from raylane.schemas.endpoints import CopilotConfigCreate, CopilotConfigSpec, OpenAILlm


def stored_spec(spec: CopilotConfigSpec) -> dict[str, Any]:
    """The spec as stored: unset optional fields left out (they keep the chat request's value),
    the policy with only the fields it sets (they are what merges), the platform's own LLM as no
    choice at all, and a tenant LLM's API key sealed with the platform key."""
    out = spec.model_dump(mode="json", exclude_none=True, exclude={"guardrail_policy", "llm"})
    if not out.get("collection_ids"):
        out.pop("collection_ids", None)
    if spec.guardrail_policy is not None:
        out["guardrail_policy"] = spec.guardrail_policy.model_dump(mode="json", exclude_unset=True)
    if isinstance(spec.llm, OpenAILlm):
        llm = spec.llm.model_dump(mode="json", exclude={"api_key"})
        if spec.llm.api_key is not None:
            llm[SEALED_KEY] = seal(spec.llm.api_key.get_secret_value())
        out["llm"] = llm
    return out


def digest(spec: dict[str, Any]) -> str:
    """The stored spec's content address. A sealed key differs at every sealing, so the key
    counts by its keyed fingerprint: the same key is the same version, a new key a new one."""
    llm = spec.get("llm")
    if llm and SEALED_KEY in llm:
        key = {k: v for k, v in llm.items() if k != SEALED_KEY}
        key["api_key_fingerprint"] = fingerprint(open_sealed(llm[SEALED_KEY]))
        spec = {**spec, "llm": key}
    return hashlib.sha256(
        json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def public_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The stored spec as a read shows it: a sealed key is only ``api_key_set``."""
    llm = spec.get("llm")
    if not llm:
        return spec
    shown = {k: v for k, v in llm.items() if k != SEALED_KEY}
    shown["api_key_set"] = SEALED_KEY in llm
    return {**spec, "llm": shown}


def apply(
    request: ChatRequest, spec: dict[str, Any], *, max_tokens_limit: int | None = None
) -> ChatRequest:
    """``request`` as the configuration ``spec`` answers it: the fields the spec sets win over
    the request's (the configuration is what the endpoint serves); the rest are the request's.
    ``max_tokens_limit`` (the platform's cap) still bounds the spec's ``max_tokens``. The
    spec's policy merges over the project's effective policy in the engine."""
    params = request.params
    if spec.get("max_tokens") is not None:
        wanted = int(spec["max_tokens"])
        params = replace(
            params, max_tokens=min(wanted, max_tokens_limit) if max_tokens_limit else wanted
        )
    if spec.get("temperature") is not None:
        params = replace(params, temperature=float(spec["temperature"]))
    return replace(
        request,
        system_prompt=spec.get("system_prompt", request.system_prompt),
        answer_mode=spec.get("answer_mode", request.answer_mode),
        top_k=int(spec.get("top_k", request.top_k)),
        collection_ids=[uuid.UUID(c) for c in spec["collection_ids"]]
        if spec.get("collection_ids")
        else request.collection_ids,
        params=params,
        guardrail_policy=spec.get("guardrail_policy") or request.guardrail_policy,
        llm=spec.get("llm", request.llm),
    )


@dataclass(frozen=True)
class ConfigVersionAdded:
    version: CopilotConfigVersion
    config: CopilotConfig
    created: bool  # False: a version with this spec already existed


class CopilotConfigService:
    async def add_version(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        project_id: uuid.UUID,
        data: CopilotConfigCreate,
        allow_private_llm: bool = False,
    ) -> ConfigVersionAdded:
        """Store ``data.spec`` as the named configuration's next version (creating the
        configuration if new). A spec equal to an existing version's answers that version.

        ``allow_private_llm``: the operator's egress setting for a tenant's own LLM endpoint.

        Raises:
            NotFound: the project, or a collection the spec names, is not the caller's.
            InvalidInput: the spec's LLM endpoint is refused by the egress rule.
            PermissionDenied: the spec carries a guardrail policy and the caller may not set
                guardrail policies (a configuration's policy overrides the project's, so it
                takes the same permission as changing that).
        """
        if data.spec.guardrail_policy is not None:
            actor.require(Permission.GUARDRAIL_WRITE)
        await project_service.get(session, project_id=project_id)
        if isinstance(data.spec.llm, OpenAILlm):
            try:  # checked again on every request the copilot sends (DNS may change)
                await check_url(data.spec.llm.base_url, allow_private=allow_private_llm)
            except EgressDenied as exc:
                raise InvalidInput(
                    f"spec.llm.base_url: refused by the egress rule: {exc}"
                ) from None
        for collection_id in data.spec.collection_ids:
            found = await CollectionRepository(session).get(collection_id)
            if found is None or found.project_id != project_id:
                raise NotFound("collection", collection_id)
        spec = stored_spec(data.spec)
        key = digest(spec)
        repo = CopilotConfigRepository(session)
        config = await repo.by_name(project_id, data.name, lock=True)
        if config is None:
            config = CopilotConfig(
                organization_id=actor.organization_id,
                project_id=project_id,
                name=data.name,
                latest_version=0,
            )
            async with conflict_on_duplicate(session, f"copilot configuration {data.name!r}"):
                await repo.add(config)
            await audit_service.log(
                session, actor, "copilot_config.create", target=config, after={"name": data.name}
            )
            config = await repo.by_name(project_id, data.name, lock=True)
            assert config is not None
        versions = CopilotConfigVersionRepository(session)
        existing = await versions.by_digest(config.id, key)
        if existing is not None:
            return ConfigVersionAdded(existing, config, created=False)
        config.latest_version += 1
        version = CopilotConfigVersion(
            organization_id=actor.organization_id,
            config_id=config.id,
            version=config.latest_version,
            digest=key,
            spec=spec,
            created_by=actor.user_id,
        )
        await versions.add(version)
        await audit_service.log(
            session,
            actor,
            "copilot_config.version",
            target=version,
            after={"config": config.name, "version": version.version, "digest": key},
        )
        return ConfigVersionAdded(version, config, created=True)

    async def get(self, session: AsyncSession, *, config_id: uuid.UUID) -> CopilotConfig:
        """Raises: NotFound."""
        found = await CopilotConfigRepository(session).get(config_id)
        if found is None:
            raise NotFound("copilot configuration", config_id)
        return found

    async def by_name(
        self, session: AsyncSession, *, project_id: uuid.UUID, name: str
    ) -> CopilotConfig:
        """Raises: NotFound."""
        found = await CopilotConfigRepository(session).by_name(project_id, name)
        if found is None:
            raise NotFound("copilot configuration", name)
        return found

    async def page(
        self, session: AsyncSession, *, project_id: uuid.UUID, limit: int, cursor: str | None
    ) -> Page[CopilotConfig]:
        """The project's configurations, oldest first. Raises: NotFound (the project)."""
        await project_service.get(session, project_id=project_id)
        return await CopilotConfigRepository(session).page(
            {"project_id": project_id}, limit=limit, cursor=cursor
        )

    async def versions(
        self, session: AsyncSession, *, config_id: uuid.UUID, limit: int, cursor: str | None
    ) -> Page[CopilotConfigVersion]:
        """A configuration's versions, newest first. Raises: NotFound."""
        await self.get(session, config_id=config_id)
        return await CopilotConfigVersionRepository(session).page(
            {"config_id": config_id}, limit=limit, cursor=cursor
        )

    async def version(
        self, session: AsyncSession, *, config: CopilotConfig, number: int
    ) -> CopilotConfigVersion:
        """Raises: NotFound."""
        found = await CopilotConfigVersionRepository(session).by_number(config.id, number)
        if found is None:
            raise NotFound("copilot configuration version", f"{config.name}/{number}")
        return found


copilot_config_service = CopilotConfigService()
