"""Rollout use cases: start, read, pause, resume, promote now, abort, and the transitions the
orchestrator makes (:mod:`raylane.core.rollouts.orchestrate`).

Every transition is one conditional UPDATE on the status and step the writer read (under the
row lock), appends an event to ``history`` with the figures that caused it, and writes an audit
event carrying the same figures, in the caller's transaction. The endpoint's split only moves
through the endpoint service (``set_split`` / ``promote``), in that same transaction, so the
rollout row and the weight the routers see never disagree after a commit.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.core.agenttests.service import agent_test_service
from raylane.core.audit import audit_service
from raylane.core.endpoints.models import Endpoint, EndpointKind
from raylane.core.endpoints.service import endpoint_service
from raylane.core.rbac import Actor, Permission, Role
from raylane.core.rollouts.models import ACTIVE, Rollout, RolloutStatus
from raylane.core.rollouts.repository import RolloutRepository
from raylane.errors import Conflict, NotFound
from raylane.infra.db.session import conflict_on_duplicate
from raylane.schemas.agent_tests import TestRunCreate
from raylane.schemas.rollouts import RolloutCreate, RolloutPolicy


def event(
    name: str, *, at: datetime, step: int, actor: Actor | None, **fields: Any
) -> dict[str, Any]:
    """One ``history`` entry (JSON): what happened, when, at which step, by whom, and why."""
    return {
        "event": name,
        "at": at.astimezone(UTC).isoformat(),
        "step": step,
        "actor": str(actor.user_id) if actor else "system",
        **fields,
    }


def suite_target(endpoint: Endpoint, label: str) -> str:
    """The agent-test target naming the canary version of the endpoint's subject."""
    if endpoint.kind == EndpointKind.COPILOT:
        return f"copilot-config:{endpoint.subject}:{label}"
    return f"model:{endpoint.subject}:{label}"


def acting_for(rollout: Rollout) -> Actor:
    """Who the orchestrator starts a step's test run as: the rollout's creator, allowed only to
    ask the canary (the test job itself narrows this again)."""
    return Actor(
        organization_id=rollout.organization_id,
        user_id=rollout.created_by or uuid.UUID(int=0),
        role=Role.VIEWER,
        permissions=frozenset({Permission.MODEL_READ, Permission.COPILOT_USE}),
    )


class RolloutService:
    async def start(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        endpoint_id: uuid.UUID,
        data: RolloutCreate,
        now: datetime | None = None,
    ) -> Rollout:
        """Start walking ``data.canary`` through the policy's steps: the endpoint's split is set
        to the first step's weight now, and the first step's test run (if the policy has a
        suite) is queued.

        Raises:
            NotFound: the endpoint, the canary version or the suite is not the caller's.
            Conflict: a rollout is already running or paused on the endpoint, or the canary
                is the endpoint's stable version.
        """
        now = now or datetime.now(UTC)
        endpoint = await endpoint_service.get(session, endpoint_id=endpoint_id)
        repo = RolloutRepository(session)
        await repo.lock_endpoint(endpoint)
        active = await repo.active_for_endpoint(endpoint.id)
        if active is not None:
            raise Conflict(f"rollout {active.id} is already {active.status} on this endpoint")
        canary_ref, canary_label = await endpoint_service.resolve_version(
            session, endpoint=endpoint, version=data.canary
        )
        if canary_ref == endpoint.stable_ref:
            # A state of the endpoint, not a malformed request: 409, like a rollout already on.
            raise Conflict(f"version {data.canary} is already the endpoint's stable version")
        policy = data.policy
        weight = policy.steps[0]
        rollout = Rollout(
            organization_id=actor.organization_id,
            endpoint_id=endpoint.id,
            project_id=endpoint.project_id,
            status=RolloutStatus.RUNNING,
            canary_ref=canary_ref,
            canary_label=canary_label,
            stable_ref=endpoint.stable_ref,
            stable_label=endpoint.stable_label,
            policy=policy.model_dump(mode="json"),
            step=0,
            step_started_at=now,
            failed_analyses=0,
            history=[
                event("started", at=now, step=0, actor=actor, weight=weight),
                event("step", at=now, step=0, actor=actor, weight=weight),
            ],
            created_by=actor.user_id,
        )
        # Two requests both pass the check above; the partial unique index settles it.
        async with conflict_on_duplicate(session, "an active rollout on this endpoint"):
            await repo.add(rollout)
        if policy.suite is not None:
            # Just inserted by this transaction: no other writer can see the row yet.
            rollout.test_run_id = await self.start_suite(
                session, actor=actor, rollout=rollout, endpoint=endpoint
            )
            await session.flush()
        await endpoint_service.set_split(
            session,
            actor=actor,
            endpoint=endpoint,
            canary_ref=canary_ref,
            canary_label=canary_label,
            weight=weight,
            reason={"rollout_id": str(rollout.id), "event": "started", "step": 0},
        )
        await audit_service.log(
            session,
            actor,
            "rollout.start",
            target=rollout,
            after={
                "endpoint_id": str(endpoint.id),
                "canary": canary_label,
                "stable": endpoint.stable_label,
                "weight": weight,
                "policy": rollout.policy,
            },
        )
        return rollout

    async def start_suite(
        self,
        session: AsyncSession,
        *,
        actor: Actor,
        rollout: Rollout,
        endpoint: Endpoint,
        step: int | None = None,
    ) -> uuid.UUID:
        """Queue the current step's agent-test run against the canary; its id.

        Raises:
            NotFound: the suite or its version is not in the endpoint's project.
        """
        gate = RolloutPolicy.model_validate(rollout.policy).suite
        assert gate is not None
        run = await agent_test_service.start(
            session,
            actor=actor,
            project_id=endpoint.project_id,
            data=TestRunCreate(
                suite=gate.name,
                version=gate.version,
                target=suite_target(endpoint, rollout.canary_label),
                concurrency=gate.concurrency,
                tags=[f"rollout:{rollout.id}", f"step:{rollout.step if step is None else step}"],
            ),
        )
        return run.id

    async def get(self, session: AsyncSession, *, rollout_id: uuid.UUID) -> Rollout:
        """Raises: NotFound (no such rollout in the organization)."""
        rollout = await RolloutRepository(session).get(rollout_id)
        if rollout is None:
            raise NotFound("rollout", rollout_id)
        return rollout

    async def for_endpoint(
        self, session: AsyncSession, *, endpoint_id: uuid.UUID, limit: int = 100
    ) -> list[Rollout]:
        """The endpoint's rollouts, newest first. Raises: NotFound (the endpoint)."""
        await endpoint_service.get(session, endpoint_id=endpoint_id)
        return await RolloutRepository(session).for_endpoint(endpoint_id, limit=limit)

    async def _locked(self, session: AsyncSession, rollout_id: uuid.UUID) -> Rollout:
        rollout = await RolloutRepository(session).get_for_update(rollout_id)
        if rollout is None:
            raise NotFound("rollout", rollout_id)
        return rollout

    async def pause(self, session: AsyncSession, *, actor: Actor, rollout_id: uuid.UUID) -> Rollout:
        """Hold a running rollout at its step (the weight stays). Raises: NotFound; Conflict
        (not running)."""
        rollout = await self._locked(session, rollout_id)
        if rollout.status != RolloutStatus.RUNNING:
            raise Conflict(f"rollout {rollout.id} is {rollout.status}, not running")
        await self.move(session, rollout, actor=actor, status=RolloutStatus.PAUSED, name="paused")
        return rollout

    async def resume(
        self, session: AsyncSession, *, actor: Actor, rollout_id: uuid.UUID
    ) -> Rollout:
        """Let a paused rollout go on from its step; the next analysis looks at traffic from now
        on, a full interval later. Raises: NotFound; Conflict (not paused)."""
        rollout = await self._locked(session, rollout_id)
        if rollout.status != RolloutStatus.PAUSED:
            raise Conflict(f"rollout {rollout.id} is {rollout.status}, not paused")
        await self.move(session, rollout, actor=actor, status=RolloutStatus.RUNNING, name="resumed")
        return rollout

    async def promote(
        self, session: AsyncSession, *, actor: Actor, rollout_id: uuid.UUID
    ) -> Rollout:
        """Make the canary stable now, skipping the remaining steps. Raises: NotFound;
        Conflict (already promoted, rolled back or aborted)."""
        rollout = await self._locked(session, rollout_id)
        self._active(rollout)
        await self.finish_promoted(session, rollout, actor=actor, figures={"manual": True})
        return rollout

    async def abort(self, session: AsyncSession, *, actor: Actor, rollout_id: uuid.UUID) -> Rollout:
        """Stop the rollout: the canary's weight goes to 0 and it is cleared; the stable version
        is untouched. Raises: NotFound; Conflict (already finished)."""
        rollout = await self._locked(session, rollout_id)
        self._active(rollout)
        await self.finish_back(
            session,
            rollout,
            actor=actor,
            status=RolloutStatus.ABORTED,
            reason="aborted",
            figures={"manual": True},
        )
        return rollout

    @staticmethod
    def _active(rollout: Rollout) -> None:
        if rollout.status not in ACTIVE:
            raise Conflict(f"rollout {rollout.id} is already {rollout.status}")

    # --- transitions (also the orchestrator's) -------------------------------------------------

    async def move(
        self,
        session: AsyncSession,
        rollout: Rollout,
        *,
        actor: Actor | None,
        name: str,
        status: RolloutStatus | None = None,
        now: datetime | None = None,
        entry: dict[str, Any] | None = None,
        **values: Any,
    ) -> None:
        """One conditional transition with its history entry and audit event.

        Args:
            name: the history event (``paused``, ``analysis``, ``step``...), also the audit
                action's last part.
            status: the new status, if it changes.
            entry: more fields for the history entry (verdict, reasons, figures, weight).
            values: more columns to write (step, failed_analyses, finished_at...).

        Raises:
            Conflict: another writer changed the rollout's status or step first.
        """
        now = now or datetime.now(UTC)
        step = int(values.get("step", rollout.step))
        record = event(name, at=now, step=step, actor=actor, **(entry or {}))
        before = {"status": rollout.status, "step": rollout.step}
        if status is not None:
            values["status"] = status
        written = await RolloutRepository(session).transition(
            rollout, history=[*rollout.history, record], **values
        )
        if not written:
            raise Conflict(f"rollout {rollout.id} changed meanwhile (now {rollout.status})")
        after = {"status": rollout.status, "step": rollout.step, **(entry or {})}
        await audit_service.log(
            session,
            actor,
            f"rollout.{name}",
            target=rollout,
            before=before,
            after=after,
            organization_id=rollout.organization_id,
        )

    async def finish_promoted(
        self,
        session: AsyncSession,
        rollout: Rollout,
        *,
        actor: Actor | None,
        figures: dict[str, Any],
        now: datetime | None = None,
    ) -> None:
        """The canary becomes the endpoint's stable version (for models the ``production``
        alias moves with it); the rollout ends ``promoted``."""
        now = now or datetime.now(UTC)
        endpoint = await endpoint_service.get(session, endpoint_id=rollout.endpoint_id)
        reason = {"rollout_id": str(rollout.id), "event": "promoted", "figures": figures}
        await endpoint_service.promote(session, actor=actor, endpoint=endpoint, reason=reason)
        await self.move(
            session,
            rollout,
            actor=actor,
            name="promoted",
            status=RolloutStatus.PROMOTED,
            now=now,
            entry={"weight": 100, "figures": figures},
            finished_at=now,
        )

    async def finish_back(
        self,
        session: AsyncSession,
        rollout: Rollout,
        *,
        actor: Actor | None,
        status: RolloutStatus,
        reason: str,
        figures: dict[str, Any],
        reasons: list[str] | None = None,
        now: datetime | None = None,
        **values: Any,
    ) -> None:
        """Weight 0 and the canary cleared (the stable version and its alias untouched); the
        rollout ends ``rolled_back`` or ``aborted`` with ``reason``."""
        now = now or datetime.now(UTC)
        endpoint = await endpoint_service.get(session, endpoint_id=rollout.endpoint_id)
        await endpoint_service.set_split(
            session,
            actor=actor,
            endpoint=endpoint,
            canary_ref=None,
            canary_label=None,
            weight=0,
            reason={"rollout_id": str(rollout.id), "event": status.value, "figures": figures},
        )
        await self.move(
            session,
            rollout,
            actor=actor,
            name=status.value,
            status=status,
            now=now,
            entry={"weight": 0, "reasons": reasons or [reason], "figures": figures},
            reason=reason,
            finished_at=now,
            **values,
        )


rollout_service = RolloutService()
