"""All SQL for guardrail policies: one row per organization (project NULL) and per project."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, delete, func, literal_column, or_, select
from sqlalchemy.dialects.postgresql import insert

from raylane.core.guardrails.models import GuardrailPolicyRow
from raylane.infra.db.repository import Repository

# The unique index guardrail_policies_scope is on (organization_id, coalesce(project_id, NIL));
# ON CONFLICT must name that very expression for Postgres to infer the index.
_NIL: ColumnElement[Any] = literal_column("'00000000-0000-0000-0000-000000000000'::uuid")
_SCOPE_KEY = (
    GuardrailPolicyRow.organization_id,
    func.coalesce(GuardrailPolicyRow.project_id, _NIL),
)


def _scope(project_id: uuid.UUID | None) -> ColumnElement[bool]:
    if project_id is None:
        return GuardrailPolicyRow.project_id.is_(None)
    return GuardrailPolicyRow.project_id == project_id


class GuardrailPolicyRepository(Repository[GuardrailPolicyRow]):
    model = GuardrailPolicyRow

    async def for_scope(
        self, *, project_id: uuid.UUID | None, for_update: bool = False
    ) -> GuardrailPolicyRow | None:
        """The organization's row (``project_id`` None) or a project's; RLS scopes the tenant."""
        stmt = select(GuardrailPolicyRow).where(_scope(project_id))
        if for_update:
            stmt = stmt.with_for_update()
        return (await self._session.scalars(stmt)).first()

    async def get_layers(
        self, *, project_id: uuid.UUID | None
    ) -> tuple[GuardrailPolicyRow | None, GuardrailPolicyRow | None]:
        """The organization's row and the project's (None without a project), in one query."""
        cond = _scope(None) if project_id is None else or_(_scope(None), _scope(project_id))
        rows = list(await self._session.scalars(select(GuardrailPolicyRow).where(cond)))
        org = next((r for r in rows if r.project_id is None), None)
        project = next((r for r in rows if r.project_id is not None), None)
        return org, project

    async def upsert(
        self,
        *,
        organization_id: uuid.UUID,
        project_id: uuid.UUID | None,
        policy: dict[str, Any],
    ) -> GuardrailPolicyRow:
        """Create or replace the scope's policy in one statement (no race on first write)."""
        stmt = (
            insert(GuardrailPolicyRow)
            .values(organization_id=organization_id, project_id=project_id, policy=policy)
            .on_conflict_do_update(
                index_elements=list(_SCOPE_KEY),
                set_={"policy": policy, "updated_at": func.now()},
            )
            .returning(GuardrailPolicyRow)
            .execution_options(populate_existing=True)
        )
        return (await self._session.scalars(stmt)).one()

    async def delete_for_project(self, *, project_id: uuid.UUID) -> dict[str, Any] | None:
        """Remove a project's policy; returns what it was, or None when it had none."""
        stmt = (
            delete(GuardrailPolicyRow)
            .where(_scope(project_id))
            .returning(GuardrailPolicyRow.policy)
        )
        return (await self._session.execute(stmt)).scalar_one_or_none()
