"""What every job entrypoint shares: resolve the run's tenant, check it is running, report
progress, and record success (a conditional transition: a cancelled run stays cancelled).
A failure exits non-zero so the RunReconciler retries or dead-letters it.

Two ways in:

* ``--run-id ID``: what the reconciler submits for each attempt of a run.
* By hand, ``ray job submit -- python -m raylane.jobs.<name> <target flags>`` (see
  :class:`Operator`), or ``--run-id`` of a run still ``queued``: the job authenticates with an
  API key (``RAYLANE_API_KEY``, or a file named by ``RAYLANE_API_KEY_FILE``) exactly as the API
  would, creates its run (or adopts the queued one) as ``running`` with this Ray job as its
  first attempt, and goes on as any attempt does. From then on the reconciler follows it:
  a failure is retried (by the usual ``--run-id`` submission), then dead-lettered; everything
  is audited under the key's user. The organization comes from the key, never from a flag.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from raylane.config import get_settings
from raylane.core.apikeys.service import actor_for, find_key
from raylane.core.collections.service import collection_service
from raylane.core.rbac import Actor, Permission
from raylane.core.runs.models import Run, RunKind, RunStatus
from raylane.core.runs.repository import RunRepository
from raylane.core.runs.service import run_service
from raylane.errors import RaylaneError
from raylane.infra.db.session import session_scope

API_KEY_ENV = "RAYLANE_API_KEY"
API_KEY_FILE_ENV = "RAYLANE_API_KEY_FILE"
# Ray hands a submitted job's driver its JobConfig here, with the submission id in metadata.
RAY_JOB_CONFIG_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"

log = logging.getLogger("raylane.jobs")


class Cancelled(Exception):
    """The run was cancelled while the job was working."""


@dataclass
class RunContext:
    run_id: uuid.UUID
    organization_id: uuid.UUID
    target_id: uuid.UUID | None
    params: dict[str, Any]

    async def progress(self, **values: Any) -> None:
        """Merge ``values`` into the run's progress; raise Cancelled if a cancel was asked."""
        async with session_scope(organization_id=self.organization_id) as session:
            run = await RunRepository(session).get(self.run_id)
            assert run is not None
            if run.status in (RunStatus.CANCELLING, RunStatus.CANCELLED):
                raise Cancelled(str(self.run_id))
            run.progress = {**run.progress, **values, "updated_at": datetime.now(UTC).isoformat()}


async def _open(run_id: uuid.UUID, job: str | None = None) -> RunContext:
    """The running run this job is an attempt of; ``job``: this process's Ray submission id,
    which must be the run's current attempt (a stale attempt, or a hand-submitted job naming
    someone else's running run, must not work on it)."""
    async with session_scope() as session:
        org = await RunRepository(session).tenant_of(run_id)
    if org is None:
        raise SystemExit(f"run {run_id} not found")
    async with session_scope(organization_id=org) as session:
        run = await RunRepository(session).get(run_id)
        assert run is not None
        if run.status != RunStatus.RUNNING:
            raise SystemExit(f"run {run_id} is {run.status}, not running")
        if job is not None and run.ray_job_id != job:
            raise SystemExit(f"run {run_id}'s current attempt is job {run.ray_job_id}, not {job}")
        return RunContext(run.id, org, run.target_id, dict(run.params))


async def _close(ctx: RunContext, result: dict[str, Any]) -> bool:
    """Record success: ``running`` -> ``succeeded`` only. False when the run moved on first (a
    cancel, or the reconciler gave this attempt up): that status stands, the result is dropped."""
    async with session_scope(organization_id=ctx.organization_id) as session:
        repo = RunRepository(session)
        run: Run | None = await repo.get(ctx.run_id)
        if run is None or run.status != RunStatus.RUNNING:
            return False
        return await repo.transition(
            run,
            to=RunStatus.SUCCEEDED,
            result=result,
            finished_at=datetime.now(UTC),
            error=None,
        )


@dataclass(frozen=True)
class Target:
    """What a job submitted by hand works on, resolved from its flags under the caller's
    organization (row-level security: another tenant's id is simply not found)."""

    target_id: uuid.UUID | None
    project_id: uuid.UUID | None
    params: dict[str, Any] = field(default_factory=dict)
    # The request's own attempt limit (a training config's ``max_attempts``); the
    # ``--max-attempts`` flag still wins.
    max_attempts: int | None = None


@dataclass(frozen=True)
class Operator:
    """How a job module runs when an operator submits it by hand.

    ``add_arguments`` adds the flags naming the target (e.g. ``--collection``); ``resolve``
    turns them into a :class:`Target`, raising a domain error (NotFound, InvalidInput) when
    they name nothing the caller may use; ``permission`` is what the equivalent API route
    requires. A job module passes its own to :func:`main` (the train job: ``--project``,
    ``--config``); ingest's is :data:`INGEST`.
    """

    kind: str
    permission: Permission
    add_arguments: Callable[[argparse._ArgumentGroup], None]
    resolve: Callable[[AsyncSession, Actor, argparse.Namespace], Awaitable[Target]]


def _ingest_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--collection", type=uuid.UUID, metavar="ID", help="the collection to ingest"
    )


async def _ingest_target(session: AsyncSession, actor: Actor, args: argparse.Namespace) -> Target:
    if args.collection is None:
        raise UsageError("--collection is required (or --run-id)")
    collection = await collection_service.get(session, collection_id=args.collection)
    return Target(collection.id, collection.project_id)


INGEST = Operator(
    kind=RunKind.INGEST,
    permission=Permission.COLLECTION_WRITE,
    add_arguments=_ingest_arguments,
    resolve=_ingest_target,
)
# The operator path of each job module that does not pass its own to ``main``.
OPERATORS: dict[str, Operator] = {"raylane.jobs.ingest": INGEST}


class UsageError(Exception):
    """The job's command line or environment names no run and no complete target (exit 2;
    not a domain error: nothing reaches the API with it)."""


def submission_id(environ: Mapping[str, str]) -> str | None:
    """The Ray submission id of the job this process is the driver of (None: not a Ray job)."""
    try:
        config = json.loads(environ.get(RAY_JOB_CONFIG_ENV) or "{}")
        value = config.get("metadata", {}).get("job_submission_id")
    except (ValueError, AttributeError):
        return None
    return str(value) if value else None


def _api_key(environ: Mapping[str, str]) -> str | None:
    key = environ.get(API_KEY_ENV)
    path = environ.get(API_KEY_FILE_ENV)
    if not key and path:
        key = Path(path).read_text().strip()
    return key or None


async def authenticate(token: str) -> Actor:
    """The caller behind an API key, as the API resolves one (revoked, expired or inactive:
    refused).

    Raises:
        Unauthenticated: the key is unknown, revoked or expired, or its membership inactive.
    """
    async with session_scope() as session:
        record = await find_key(session, token, secret=get_settings().secret_key.get_secret_value())
    return actor_for(record)


async def _by_hand(
    args: argparse.Namespace, operator: Operator | None, environ: Mapping[str, str]
) -> uuid.UUID:
    """The run a job submitted by hand works on: created for its target, or a queued run
    adopted; in both cases ``running`` with this Ray job as its attempt, committed."""
    token, job = _api_key(environ), submission_id(environ)
    if token is None:
        raise UsageError(f"submitted by hand: set {API_KEY_ENV} (or {API_KEY_FILE_ENV})")
    if job is None:
        raise UsageError(
            "not running as a Ray job (no submission id): submit it with `ray job submit`"
        )
    actor = await authenticate(token)
    async with session_scope(organization_id=actor.organization_id) as session:
        if args.run_id is not None:
            actor.require(Permission.RUN_WRITE)
            run = await run_service.adopt(session, actor=actor, run_id=args.run_id, ray_job_id=job)
        else:
            assert operator is not None
            actor.require(operator.permission)
            target = await operator.resolve(session, actor, args)
            run = await run_service.attach(
                session,
                actor=actor,
                kind=operator.kind,
                target_id=target.target_id,
                project_id=target.project_id,
                max_attempts=(
                    args.max_attempts or target.max_attempts or get_settings().runs.max_attempts
                ),
                params=target.params,
                ray_job_id=job,
            )
        log.info("run %s attached to Ray job %s by hand", run.id, job)
        return run.id


async def _run_of(
    args: argparse.Namespace, operator: Operator | None, environ: Mapping[str, str]
) -> uuid.UUID:
    if args.run_id is None:
        return await _by_hand(args, operator, environ)
    async with session_scope() as session:
        org = await RunRepository(session).tenant_of(args.run_id)
    if org is not None:
        async with session_scope(organization_id=org) as session:
            run = await RunRepository(session).get(args.run_id)
            assert run is not None  # its tenant was just found
            # The reconciler's own submission (named after the run) may start before the
            # reconciler has recorded it: that is not a job to adopt the run with.
            ours = (submission_id(environ) or "").startswith(f"raylane-{run.kind}-{run.id}-")
            if run.status == RunStatus.QUEUED and _api_key(environ) and not ours:
                return await _by_hand(args, operator, environ)  # adopt it
    run_id: uuid.UUID = args.run_id
    return run_id  # the reconciler's attempt (``_open`` checks it is running)


def parser_for(module: str, operator: Operator | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {module}",
        description="A Raylane job: one attempt of a run. The reconciler passes --run-id; "
        f"submitted by hand, it authenticates with {API_KEY_ENV} and creates its run.",
    )
    parser.add_argument(
        "--run-id",
        type=uuid.UUID,
        metavar="ID",
        help="the run to work on (by hand: a queued run, which this job adopts)",
    )
    if operator is not None:
        group = parser.add_argument_group(f"submitted by hand (needs {API_KEY_ENV})")
        operator.add_arguments(group)
        group.add_argument(
            "--max-attempts",
            type=int,
            choices=range(1, 11),
            metavar="N",
            help="attempts before the run is dead-lettered (default: the platform's)",
        )
    return parser


async def run_job(
    handler: Callable[[RunContext], Awaitable[dict[str, Any]]],
    argv: Sequence[str],
    *,
    operator: Operator | None = None,
    environ: Mapping[str, str] = os.environ,
) -> int:
    """One attempt of a run, from the job's command line; returns the exit code (0: the run
    succeeded; 1: it failed, was cancelled, or could not start; 2: bad command line)."""
    module = getattr(handler, "__module__", "raylane.jobs")
    operator = operator or OPERATORS.get(module)
    parser = parser_for(module, operator)
    args = parser.parse_args(list(argv))
    if args.run_id is None and operator is None:
        parser.error("--run-id is required")
    try:
        run_id = await _run_of(args, operator, environ)
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RaylaneError as exc:  # not authenticated, not allowed, not found, conflict
        print(f"error: {exc.code}: {exc.detail}", file=sys.stderr)
        return 1
    try:
        ctx = await _open(run_id, submission_id(environ))
    except SystemExit as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    log.info("run %s started (organization %s)", ctx.run_id, ctx.organization_id)
    try:
        result = await handler(ctx)
    except Cancelled:
        log.info("run %s cancelled", ctx.run_id)
        return 1
    if not await _close(ctx, result):
        # Cancelled (or given up) while finishing: exit as a cancelled job does.
        log.info("run %s ended before its result was recorded", ctx.run_id)
        return 1
    log.info("run %s succeeded: %s", ctx.run_id, result)
    return 0


def main(
    handler: Callable[[RunContext], Awaitable[dict[str, Any]]],
    *,
    operator: Operator | None = None,
) -> None:
    """The job's entrypoint: parse the command line, run ``handler`` as one attempt and
    record its result; the exit code is :func:`run_job`'s."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    sys.exit(asyncio.run(run_job(handler, sys.argv[1:], operator=operator)))
