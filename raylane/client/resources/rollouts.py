"""Rollouts: a canary walked through weight steps on an endpoint, analysed at every step,
promoted or rolled back by the platform's orchestrator. Follow one with ``get`` (or ``wait``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from raylane.client._resources import AsyncResource, Call, Ident, SyncResource, body, segment
from raylane.client.resources.runs import asend_creation, idempotent, send_creation
from raylane.schemas.rollouts import RolloutCreate, RolloutRead

TERMINAL = frozenset({"promoted", "rolled_back", "aborted"})


def _list(data: Any) -> list[RolloutRead]:
    return [RolloutRead.model_validate(item) for item in data]


class _Rollouts:
    """The request shapes both resource groups below send."""

    @staticmethod
    def start(
        endpoint_id: Ident, canary: int, policy: dict[str, Any] | None, key: str | None
    ) -> Call[RolloutRead]:
        data = body(RolloutCreate, canary=canary, **({"policy": policy} if policy else {}))
        call = Call(
            "POST",
            f"/api/v1/endpoints/{segment(endpoint_id)}/rollouts",
            RolloutRead.model_validate,
            json=data,
        )
        return idempotent(call, key)

    @staticmethod
    def list(endpoint_id: Ident) -> Call[list[RolloutRead]]:
        return Call("GET", f"/api/v1/endpoints/{segment(endpoint_id)}/rollouts", _list)

    @staticmethod
    def get(rollout_id: Ident) -> Call[RolloutRead]:
        return Call("GET", f"/api/v1/rollouts/{segment(rollout_id)}", RolloutRead.model_validate)

    @staticmethod
    def act(rollout_id: Ident, action: str) -> Call[RolloutRead]:
        return Call(
            "POST", f"/api/v1/rollouts/{segment(rollout_id)}/{action}", RolloutRead.model_validate
        )


class Rollouts(SyncResource):
    """Canary rollouts on endpoints."""

    def start(
        self,
        endpoint_id: Ident,
        *,
        canary: int,
        policy: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> RolloutRead:
        """Start a rollout of version ``canary`` of the endpoint's model or copilot
        configuration; ``policy`` as :class:`raylane.schemas.rollouts.RolloutPolicy` (steps,
        interval_s, max_failed_analyses, checks, suite), defaults where left out.

        Raises:
            NotFound: the endpoint, the version or the suite is not the caller's.
            Conflict: a rollout is already running or paused on the endpoint.
            ValidationError: the policy is invalid (steps not ascending to 100, ...).
        """
        return send_creation(
            self._run, _Rollouts.start(endpoint_id, canary, policy, idempotency_key)
        )

    def list(self, endpoint_id: Ident) -> list[RolloutRead]:
        """The endpoint's rollouts, newest first. Raises: NotFound."""
        return self._run(_Rollouts.list(endpoint_id))

    def get(self, rollout_id: Ident) -> RolloutRead:
        """One rollout with its history. Raises: NotFound."""
        return self._run(_Rollouts.get(rollout_id))

    def pause(self, rollout_id: Ident) -> RolloutRead:
        """Hold it at its step. Raises: NotFound; Conflict (not running)."""
        return self._run(_Rollouts.act(rollout_id, "pause"))

    def resume(self, rollout_id: Ident) -> RolloutRead:
        """Go on from its step. Raises: NotFound; Conflict (not paused)."""
        return self._run(_Rollouts.act(rollout_id, "resume"))

    def promote(self, rollout_id: Ident) -> RolloutRead:
        """Make the canary stable now. Raises: NotFound; Conflict (already ended)."""
        return self._run(_Rollouts.act(rollout_id, "promote"))

    def abort(self, rollout_id: Ident) -> RolloutRead:
        """Stop it: canary weight 0. Raises: NotFound; Conflict (already ended)."""
        return self._run(_Rollouts.act(rollout_id, "abort"))

    def wait(self, rollout_id: Ident, *, timeout: float = 3600, poll: float = 1.0) -> RolloutRead:
        """Poll until the rollout is promoted, rolled back or aborted.

        Raises:
            TimeoutError: still running or paused after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            rollout = self.get(rollout_id)
            if rollout.status in TERMINAL:
                return rollout
            if time.monotonic() > deadline:
                raise TimeoutError(f"rollout {rollout_id} still {rollout.status}")
            time.sleep(poll)


class AsyncRollouts(AsyncResource, twin=Rollouts):
    async def start(
        self,
        endpoint_id: Ident,
        *,
        canary: int,
        policy: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> RolloutRead:
        call = _Rollouts.start(endpoint_id, canary, policy, idempotency_key)
        return await asend_creation(self._run, call)

    async def list(self, endpoint_id: Ident) -> list[RolloutRead]:
        return await self._run(_Rollouts.list(endpoint_id))

    async def get(self, rollout_id: Ident) -> RolloutRead:
        return await self._run(_Rollouts.get(rollout_id))

    async def pause(self, rollout_id: Ident) -> RolloutRead:
        return await self._run(_Rollouts.act(rollout_id, "pause"))

    async def resume(self, rollout_id: Ident) -> RolloutRead:
        return await self._run(_Rollouts.act(rollout_id, "resume"))

    async def promote(self, rollout_id: Ident) -> RolloutRead:
        return await self._run(_Rollouts.act(rollout_id, "promote"))

    async def abort(self, rollout_id: Ident) -> RolloutRead:
        return await self._run(_Rollouts.act(rollout_id, "abort"))

    async def wait(
        self, rollout_id: Ident, *, timeout: float = 3600, poll: float = 1.0
    ) -> RolloutRead:
        deadline = time.monotonic() + timeout
        while True:
            rollout = await self.get(rollout_id)
            if rollout.status in TERMINAL:
                return rollout
            if time.monotonic() > deadline:
                raise TimeoutError(f"rollout {rollout_id} still {rollout.status}")
            await asyncio.sleep(poll)
