"""Non-blocking form of :mod:`raylane.client.guardrails`.

Each method takes the same arguments, returns the same models and raises the same errors as
its blocking twin, whose docstring it carries.
"""

from __future__ import annotations

from raylane.client import guardrails
from raylane.client._resources import AsyncResource, Ident, mirrors
from raylane.client.guardrails import PolicyInput
from raylane.schemas.guardrails import (
    GuardrailCheckResult,
    GuardrailEffectiveRead,
    GuardrailPolicyRead,
    StageName,
)


class AsyncGuardrails(AsyncResource):
    """Async form of :class:`raylane.client.guardrails.Guardrails`."""

    @mirrors(guardrails.Guardrails.get_policy)
    async def get_policy(self, project_id: Ident | None = None) -> GuardrailPolicyRead:
        return await self._run(guardrails.get_policy(project_id))

    @mirrors(guardrails.Guardrails.set_policy)
    async def set_policy(
        self, policy: PolicyInput, project_id: Ident | None = None
    ) -> GuardrailPolicyRead:
        return await self._run(guardrails.set_policy(policy, project_id))

    @mirrors(guardrails.Guardrails.clear_project_policy)
    async def clear_project_policy(self, project_id: Ident) -> None:
        await self._run(guardrails.clear_project_policy(project_id))

    @mirrors(guardrails.Guardrails.effective)
    async def effective(self, project_id: Ident | None = None) -> GuardrailEffectiveRead:
        return await self._run(guardrails.effective(project_id))

    @mirrors(guardrails.Guardrails.check)
    async def check(
        self, text: str, *, stage: StageName = "input", project_id: Ident | None = None
    ) -> GuardrailCheckResult:
        return await self._run(guardrails.check(text, stage, project_id))
