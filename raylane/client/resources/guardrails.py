"""Guardrail policies and policy checks: request shapes, and the sync and async groups.

Example::

    with Client() as client:
        client.guardrails.set_policy({"detectors": {"email": {"action": "block"}}})
        client.guardrails.set_policy({"max_input_tokens": 2000}, project_id=project.id)
        result = client.guardrails.check("mail ada@example.com", project_id=project.id)
        print(result.verdict, result.text)          # blocked [EMAIL]

A policy sets only some fields; what it leaves out keeps its default (organization) or is
inherited from the organization (project). ``get_policy`` shows exactly what a policy sets,
``effective`` what applies once everything is merged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import BaseModel

from raylane.client._resources import AsyncResource, Call, Ident, SyncResource, body, segment
from raylane.schemas.guardrails import (
    GuardrailCheck,
    GuardrailCheckResult,
    GuardrailEffectiveRead,
    GuardrailPolicyBody,
    GuardrailPolicyRead,
    StageName,
)

POLICY_PATH: Final = "/api/v1/guardrails/policy"
EFFECTIVE_PATH: Final = "/api/v1/guardrails/effective"
CHECK_PATH: Final = "/api/v1/guardrails/check"

PolicyInput = Mapping[str, Any] | GuardrailPolicyBody


class _Guardrails:
    """The request shapes of the guardrail routes; both resource groups below send them."""

    @staticmethod
    def project_path(project_id: Ident) -> str:
        """``/projects/{id}/guardrails``."""
        return f"/api/v1/projects/{segment(project_id)}/guardrails"

    @staticmethod
    def policy_path(project_id: Ident | None) -> str:
        """The organization's policy, or a project's."""
        return (
            POLICY_PATH if project_id is None else f"{_Guardrails.project_path(project_id)}/policy"
        )

    @staticmethod
    def policy_body(policy: PolicyInput) -> dict[str, Any]:
        """A policy validated locally, with only the fields it sets.

        Raises:
            ValidationError: not a valid policy (nothing was sent).
        """
        if isinstance(policy, BaseModel):
            policy = policy.model_dump(exclude_unset=True)
        return body(GuardrailPolicyBody, **dict(policy))

    @staticmethod
    def get_policy(project_id: Ident | None) -> Call[GuardrailPolicyRead]:
        """``GET`` the organization's or a project's stored policy."""
        return Call("GET", _Guardrails.policy_path(project_id), GuardrailPolicyRead.model_validate)

    @staticmethod
    def set_policy(policy: PolicyInput, project_id: Ident | None) -> Call[GuardrailPolicyRead]:
        """``PUT`` a policy, validated locally first."""
        data = _Guardrails.policy_body(policy)
        return Call(
            "PUT",
            _Guardrails.policy_path(project_id),
            GuardrailPolicyRead.model_validate,
            json=data,
        )

    @staticmethod
    def clear_project_policy(project_id: Ident) -> Call[None]:
        """``DELETE`` a project's policy (204)."""
        return Call("DELETE", _Guardrails.policy_path(project_id), lambda _: None)

    @staticmethod
    def effective(project_id: Ident | None) -> Call[GuardrailEffectiveRead]:
        """``GET`` the merged policy of the organization or of a project."""
        path = (
            EFFECTIVE_PATH
            if project_id is None
            else f"{_Guardrails.project_path(project_id)}/effective"
        )
        return Call("GET", path, GuardrailEffectiveRead.model_validate)

    @staticmethod
    def check(text: str, stage: StageName, project_id: Ident | None) -> Call[GuardrailCheckResult]:
        """``POST /guardrails/check`` with a locally validated body."""
        fields: dict[str, Any] = {"text": text, "stage": stage}
        if project_id is not None:
            fields["project_id"] = project_id
        data = body(GuardrailCheck, **fields)
        return Call("POST", CHECK_PATH, GuardrailCheckResult.model_validate, json=data)


class Guardrails(SyncResource):
    """Guardrail policies of the organization and its projects, and policy checks."""

    def get_policy(self, project_id: Ident | None = None) -> GuardrailPolicyRead:
        """The policy stored for the organization, or for a project when given.

        Returns:
            ``policy`` holds only the fields that policy sets; ``stored`` is false when there
            is none (the organization then uses the defaults, a project inherits).

        Raises:
            NotFound: the project does not exist or belongs to another organization.
        """
        return self._run(_Guardrails.get_policy(project_id))

    def set_policy(
        self, policy: PolicyInput, project_id: Ident | None = None
    ) -> GuardrailPolicyRead:
        """Create or replace the organization's policy, or a project's when given.

        Args:
            policy: e.g. ``{"detectors": {"email": {"action": "block"}}, "max_input_tokens":
                2000}``; fields left out keep their defaults (organization) or inherit the
                organization's (project). Detectors: email, phone, credit_card, iban, ssn,
                ip_address, secret, injection, denied_topic, token_limit; each rule has
                ``enabled``, ``action`` (block, redact, flag) and ``stages`` (input,
                context, output).
            project_id: The project to set it for; None for the organization.

        Raises:
            ValidationError: the policy is invalid (checked before sending, and again by the
                server).
            PermissionDenied: setting policies needs the admin role.
            NotFound: the project does not exist or belongs to another organization.
        """
        return self._run(_Guardrails.set_policy(policy, project_id))

    def clear_project_policy(self, project_id: Ident) -> None:
        """Remove a project's policy so it inherits the organization's; no error if it has
        none.

        Raises:
            PermissionDenied: clearing policies needs the admin role.
            NotFound: the project does not exist or belongs to another organization.
        """
        self._run(_Guardrails.clear_project_policy(project_id))

    def effective(self, project_id: Ident | None = None) -> GuardrailEffectiveRead:
        """The policy that applies, every field resolved: defaults, then the organization's
        policy, then the project's (when given).

        Raises:
            NotFound: the project does not exist or belongs to another organization.
        """
        return self._run(_Guardrails.effective(project_id))

    def check(
        self, text: str, *, stage: StageName = "input", project_id: Ident | None = None
    ) -> GuardrailCheckResult:
        """Test a text against the effective policy, as the copilot would at ``stage``.

        A blocked text is a result (``verdict == "blocked"``), not an error. Checking changes
        no data, except that a blocked verdict is recorded as a ``guardrail.block`` audit
        event (detectors and actions only, never the text).

        Args:
            text: Up to 100,000 characters.
            stage: ``input`` (user message), ``context`` (a retrieved chunk) or ``output``
                (the model's answer).
            project_id: Use this project's effective policy instead of the organization's.

        Returns:
            The verdict, the text with redactions applied, and the findings (spans index the
            text as sent).

        Raises:
            ValidationError: the text is too long or the stage unknown.
            NotFound: the project does not exist or belongs to another organization.
        """
        return self._run(_Guardrails.check(text, stage, project_id))


class AsyncGuardrails(AsyncResource, twin=Guardrails):
    async def get_policy(self, project_id: Ident | None = None) -> GuardrailPolicyRead:
        return await self._run(_Guardrails.get_policy(project_id))

    async def set_policy(
        self, policy: PolicyInput, project_id: Ident | None = None
    ) -> GuardrailPolicyRead:
        return await self._run(_Guardrails.set_policy(policy, project_id))

    async def clear_project_policy(self, project_id: Ident) -> None:
        await self._run(_Guardrails.clear_project_policy(project_id))

    async def effective(self, project_id: Ident | None = None) -> GuardrailEffectiveRead:
        return await self._run(_Guardrails.effective(project_id))

    async def check(
        self, text: str, *, stage: StageName = "input", project_id: Ident | None = None
    ) -> GuardrailCheckResult:
        return await self._run(_Guardrails.check(text, stage, project_id))
