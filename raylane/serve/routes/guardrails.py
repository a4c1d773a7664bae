"""Guardrail policies (organization and project) and the policy check.

Policies arrive as ``GuardrailPolicyBody`` and are validated again as the server's
``GuardrailPolicy`` (keyword lengths, detector/action combinations); anything it refuses is a
422 in the same shape as any other validation error, and nothing is written.
"""

from __future__ import annotations

import uuid

import pydantic
from fastapi import APIRouter, Response
from fastapi.exceptions import RequestValidationError

from raylane.core.guardrails.policy import (
    DETECTOR_NAMES,
    GuardrailPolicy,
    GuardrailResult,
    Stage,
)
from raylane.core.guardrails.service import StoredPolicy, guardrail_service, policy_json
from raylane.core.rbac import Permission
from raylane.schemas.guardrails import (
    DetectorRuleRead,
    GuardrailCheck,
    GuardrailCheckResult,
    GuardrailEffectiveRead,
    GuardrailFindingRead,
    GuardrailPolicyBody,
    GuardrailPolicyRead,
    ResolvedPolicy,
)
from raylane.serve.deps import ActorDep, SessionDep, require
from raylane.serve.routing import Route

router = APIRouter(tags=["guardrails"], route_class=Route)

READ = [require(Permission.GUARDRAIL_READ)]
WRITE = [require(Permission.GUARDRAIL_WRITE)]


def to_policy(body: GuardrailPolicyBody) -> GuardrailPolicy:
    """The wire body as the server's policy, keeping which fields were set.

    Raises:
        RequestValidationError: the server's policy rejects it (answered as 422).
    """
    try:
        return GuardrailPolicy.model_validate(body.model_dump(mode="json", exclude_unset=True))
    except pydantic.ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


def _read(stored: StoredPolicy) -> GuardrailPolicyRead:
    return GuardrailPolicyRead(
        scope=stored.scope,
        project_id=stored.project_id,
        stored=stored.policy is not None,
        policy=policy_json(stored.policy) if stored.policy is not None else {},
        updated_at=stored.updated_at,
    )


def _effective(policy: GuardrailPolicy, project_id: uuid.UUID | None) -> GuardrailEffectiveRead:
    rules = {}
    for name in DETECTOR_NAMES:
        rule = policy.rule(name)
        rules[name] = DetectorRuleRead(
            enabled=rule.enabled,
            action=rule.action.value,
            stages=[s.value for s in Stage if s in rule.stages],
        )
    resolved = ResolvedPolicy(
        detectors=rules,
        injection_threshold=policy.injection_threshold,
        denied_topics=policy.denied_topics,
        denied_keywords=policy.denied_keywords,
        max_input_tokens=policy.max_input_tokens,
        max_output_tokens=policy.max_output_tokens,
    )
    return GuardrailEffectiveRead(project_id=project_id, policy=resolved)


def _result(result: GuardrailResult) -> GuardrailCheckResult:
    return GuardrailCheckResult(
        stage=result.stage.value,
        verdict=result.verdict.value,
        text=result.text,
        findings=[
            GuardrailFindingRead.model_validate(f.model_dump(mode="json")) for f in result.findings
        ],
        injection_score=result.injection_score,
        token_count=result.token_count,
        blocked=result.blocked,
        flagged=result.flagged,
    )


@router.get("/api/v1/guardrails/policy", dependencies=READ)
async def get_guardrail_policy(session: SessionDep) -> GuardrailPolicyRead:
    """The organization's own policy: only the fields it sets (none stored: defaults apply)."""
    return _read(await guardrail_service.get_org(session))


@router.put("/api/v1/guardrails/policy", dependencies=WRITE)
async def set_guardrail_policy(
    data: GuardrailPolicyBody, session: SessionDep, actor: ActorDep
) -> GuardrailPolicyRead:
    """Create or replace the organization's policy; fields left out keep their defaults."""
    policy = to_policy(data)
    return _read(await guardrail_service.set_org(session, actor=actor, policy=policy))


@router.get("/api/v1/guardrails/effective", dependencies=READ)
async def get_effective_guardrail_policy(session: SessionDep) -> GuardrailEffectiveRead:
    """The organization's policy with every field resolved (what applies outside projects)."""
    return _effective(await guardrail_service.effective(session, project_id=None), None)


@router.post("/api/v1/guardrails/check", dependencies=READ)
async def check_guardrails(
    data: GuardrailCheck, session: SessionDep, actor: ActorDep
) -> GuardrailCheckResult:
    """Test a text against the effective policy (of ``project_id`` when given).

    A blocked text answers 200 with ``verdict: blocked``. Testing changes nothing, with one
    exception: a blocked verdict writes the same ``guardrail.block`` audit event a real block
    writes (detectors and actions only, never the text), and every finding counts in
    ``raylane_guardrail_hits_total``.
    """
    result = await guardrail_service.check(
        session, actor=actor, text=data.text, stage=data.stage, project_id=data.project_id
    )
    return _result(result)


@router.get("/api/v1/projects/{project_id}/guardrails/policy", dependencies=READ)
async def get_project_guardrail_policy(
    project_id: uuid.UUID, session: SessionDep
) -> GuardrailPolicyRead:
    """The project's own policy: only the fields it overrides (none stored: it inherits)."""
    return _read(await guardrail_service.get_project(session, project_id=project_id))


@router.put("/api/v1/projects/{project_id}/guardrails/policy", dependencies=WRITE)
async def set_project_guardrail_policy(
    project_id: uuid.UUID, data: GuardrailPolicyBody, session: SessionDep, actor: ActorDep
) -> GuardrailPolicyRead:
    """Create or replace the project's policy; fields left out inherit the organization's."""
    policy = to_policy(data)
    stored = await guardrail_service.set_project(
        session, actor=actor, project_id=project_id, policy=policy
    )
    return _read(stored)


@router.delete(
    "/api/v1/projects/{project_id}/guardrails/policy", status_code=204, dependencies=WRITE
)
async def clear_project_guardrail_policy(
    project_id: uuid.UUID, session: SessionDep, actor: ActorDep
) -> Response:
    """Remove the project's policy so it inherits the organization's (204 also when none)."""
    await guardrail_service.delete_project(session, actor=actor, project_id=project_id)
    return Response(status_code=204)


@router.get("/api/v1/projects/{project_id}/guardrails/effective", dependencies=READ)
async def get_project_effective_guardrail_policy(
    project_id: uuid.UUID, session: SessionDep
) -> GuardrailEffectiveRead:
    """The policy that applies in the project: defaults < organization < project."""
    policy = await guardrail_service.effective(session, project_id=project_id)
    return _effective(policy, project_id)
