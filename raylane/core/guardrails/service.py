"""Guardrail use cases: stored policies per organization and per project, and checks.

Policies are stored as the JSON of their explicitly set fields only
(``model_dump(exclude_unset=True)``), because ``effective_policy`` merges layers by what each
one sets: a project that sets one detector's action inherits everything else.

Every block is an audit event (detector names and actions, never the text) and every finding
counts in ``raylane_guardrail_hits_total``; ``record_hits`` does both, for ``check`` and for
the copilot's input, context and output stages.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.audit import audit_service
from raylane.core.guardrails.models import GuardrailPolicyRow
from raylane.core.guardrails.policy import (
    GuardrailPolicy,
    GuardrailResult,
    Stage,
    effective_policy,
    evaluate,
)
from raylane.core.guardrails.repository import GuardrailPolicyRepository
from raylane.core.projects.service import project_service
from raylane.core.rbac import Actor
from raylane.infra.metrics import GUARDRAIL_HITS

_STAGE_ORDER = {s.value: i for i, s in enumerate(Stage)}


def policy_json(policy: GuardrailPolicy) -> dict[str, Any]:
    """The policy's explicitly set fields as JSON, stage lists in a stable order."""
    data = policy.model_dump(mode="json", exclude_unset=True)
    for rule in data.get("detectors", {}).values():
        if "stages" in rule:
            rule["stages"] = sorted(rule["stages"], key=_STAGE_ORDER.__getitem__)
    return data


def _load(row: GuardrailPolicyRow | None) -> GuardrailPolicy | None:
    # Validating the stored JSON marks exactly its keys as set, so merging keeps working.
    return None if row is None else GuardrailPolicy.model_validate(row.policy)


@dataclass(frozen=True)
class StoredPolicy:
    """The policy stored for one scope; ``policy`` is None when the scope has none."""

    scope: Literal["organization", "project"]
    project_id: uuid.UUID | None
    policy: GuardrailPolicy | None
    updated_at: datetime | None

    @classmethod
    def of(cls, row: GuardrailPolicyRow | None, *, project_id: uuid.UUID | None) -> StoredPolicy:
        return cls(
            scope="organization" if project_id is None else "project",
            project_id=project_id,
            policy=_load(row),
            updated_at=row.updated_at if row is not None else None,
        )


def _target(actor: Actor | None, organization_id: uuid.UUID | None, project_id: object) -> str:
    """Audit target: the project, or the organization for its own policy."""
    if project_id is not None:
        return str(project_id)
    org = organization_id or (actor.organization_id if actor else None)
    return str(org)


async def record_hits(
    session: AsyncSession,
    *,
    actor: Actor | None,
    result: GuardrailResult,
    project_id: uuid.UUID | None,
    organization_id: uuid.UUID | None = None,
) -> None:
    """Count a result's findings and audit it if it blocked, in the caller's transaction.

    Call after every ``evaluate()`` (input, each context chunk, output). Increments
    ``raylane_guardrail_hits_total{detector, action, stage}`` once per finding; when the
    verdict is blocked, appends a ``guardrail.block`` audit event naming the stage and the
    detectors and actions that fired, with counts, but never the matched text.

    Args:
        session: the tenant session; the audit row commits or rolls back with it.
        actor: who sent the text; None for system work (then give ``organization_id``).
        result: what ``evaluate`` returned.
        project_id: the project whose policy applied, or None for the organization's.
        organization_id: the tenant, when there is no actor.

    Raises:
        ValueError: blocked, with neither an actor nor an organization to audit under.
    """
    if result.blocked:
        fired = Counter((f.detector, f.action.value) for f in result.findings)
        await audit_service.log(
            session,
            actor,
            "guardrail.block",
            target=("guardrail", _target(actor, organization_id, project_id)),
            organization_id=organization_id,
            after={
                "stage": result.stage.value,
                "project_id": str(project_id) if project_id else None,
                "findings": [
                    {"detector": d, "action": a, "count": n} for (d, a), n in sorted(fired.items())
                ],
            },
        )
    # After the audit row: a failed audit write fails the request without counting it.
    for finding in result.findings:
        GUARDRAIL_HITS.labels(
            detector=finding.detector, action=finding.action.value, stage=result.stage.value
        ).inc()


class GuardrailService:
    async def get_org(self, session: AsyncSession) -> StoredPolicy:
        """The organization's own policy (``policy`` None: none stored, defaults apply)."""
        row = await GuardrailPolicyRepository(session).for_scope(project_id=None)
        return StoredPolicy.of(row, project_id=None)

    async def set_org(
        self, session: AsyncSession, *, actor: Actor, policy: GuardrailPolicy
    ) -> StoredPolicy:
        """Create or replace the organization's policy; audited with before and after."""
        return await self._set(session, actor=actor, project_id=None, policy=policy)

    async def get_project(self, session: AsyncSession, *, project_id: uuid.UUID) -> StoredPolicy:
        """A project's own policy (``policy`` None: it inherits the organization's).

        Raises:
            NotFound: the project is missing or another organization's.
        """
        await project_service.get(session, project_id=project_id)
        row = await GuardrailPolicyRepository(session).for_scope(project_id=project_id)
        return StoredPolicy.of(row, project_id=project_id)

    async def set_project(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        project_id: uuid.UUID,
        policy: GuardrailPolicy,
    ) -> StoredPolicy:
        """Create or replace a project's policy; audited with before and after.

        Raises:
            NotFound: the project is missing or another organization's.
        """
        await project_service.get(session, project_id=project_id)
        return await self._set(session, actor=actor, project_id=project_id, policy=policy)

    async def delete_project(
        self, session: AsyncSession, *, actor: Actor, project_id: uuid.UUID
    ) -> None:
        """Remove a project's policy so it inherits the organization's again.

        Idempotent: without a stored policy nothing changes and nothing is audited.

        Raises:
            NotFound: the project is missing or another organization's.
        """
        await project_service.get(session, project_id=project_id)
        before = await GuardrailPolicyRepository(session).delete_for_project(project_id=project_id)
        if before is None:
            return
        await audit_service.log(
            session,
            actor,
            "guardrail_policy.delete",
            target=("guardrail_policy", project_id),
            before={"scope": "project", "policy": before},
        )

    async def effective(
        self, session: AsyncSession, *, project_id: uuid.UUID | None
    ) -> GuardrailPolicy:
        """The policy that applies: the organization's merged with the project's.

        Fields neither sets keep their defaults (see ``GuardrailPolicy``); with no project,
        the organization's policy alone.

        Raises:
            NotFound: the project is missing or another organization's.
        """
        if project_id is not None:
            await project_service.get(session, project_id=project_id)
        org, project = await GuardrailPolicyRepository(session).get_layers(project_id=project_id)
        return effective_policy(_load(org), _load(project))

    async def check(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        text: str,
        stage: Stage | Literal["input", "context", "output"],
        project_id: uuid.UUID | None = None,
    ) -> GuardrailResult:
        """Evaluate a text with the effective policy, as the copilot would at ``stage``.

        Changes no data, except that a blocked verdict writes its ``guardrail.block`` audit
        event (as a real block would); every finding counts in the hits metric.

        Raises:
            NotFound: the project is missing or another organization's.
        """
        policy = await self.effective(session, project_id=project_id)
        result = await asyncio.to_thread(evaluate, policy, text, stage=stage)
        await record_hits(session, actor=actor, result=result, project_id=project_id)
        return result

    async def _set(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        project_id: uuid.UUID | None,
        policy: GuardrailPolicy,
    ) -> StoredPolicy:
        repo = GuardrailPolicyRepository(session)
        # Lock the current row (if any) so "before" is what this write replaces.
        current = await repo.for_scope(project_id=project_id, for_update=True)
        before = dict(current.policy) if current is not None else None
        after = policy_json(policy)
        row = await repo.upsert(
            organization_id=actor.organization_id, project_id=project_id, policy=after
        )
        scope = "organization" if project_id is None else "project"
        await audit_service.log(
            session,
            actor,
            "guardrail_policy.set",
            target=("guardrail_policy", _target(actor, None, project_id)),
            before={"scope": scope, "policy": before} if before is not None else None,
            after={"scope": scope, "policy": after},
        )
        return StoredPolicy.of(row, project_id=project_id)


guardrail_service = GuardrailService()
