"""The only module that talks to Ray: cluster health, the Job Submission API, named actors.

Jobs are submitted with a fixed entrypoint per workload (``python -m raylane.jobs.<kind>
--run-id <uuid>``); tenant input never becomes an entrypoint, a runtime_env or a pickle.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
import sys
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from raylane.config import Settings, get_settings
from raylane.errors import ServiceUnavailable

log = logging.getLogger(__name__)

JOB_KINDS = frozenset({"ingest", "train", "predict", "agent_test"})


async def ray_health() -> None:
    """Raise unless this process is connected to a live Ray cluster."""
    import ray

    if not ray.is_initialized():
        raise ServiceUnavailable("this process is not connected to Ray")
    resources = await asyncio.to_thread(ray.cluster_resources)
    if not resources:
        raise ServiceUnavailable("Ray reports no resources")


def dashboard_address(settings: Settings) -> str:
    """The Job API address: the local head's dashboard, or ``RAYLANE_RAY__DASHBOARD_URL``."""
    return settings.ray.dashboard_url or (
        f"http://{settings.ray.dashboard_host}:{settings.ray.dashboard_port}"
    )


@lru_cache(maxsize=2)
def _job_client(address: str) -> Any:
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(address)


def job_client(settings: Settings | None = None) -> Any:
    settings = settings or get_settings()
    try:
        return _job_client(dashboard_address(settings))
    except Exception as exc:  # the client probes the address on construction
        log.warning("Ray Job API unreachable: %s", exc)
        raise ServiceUnavailable("Ray Job API unreachable") from exc


class SubmissionRefused(RuntimeError):
    """Ray refused this job (not a transient outage); the reason is in the log only."""


@dataclass(frozen=True)
class JobState:
    status: str  # PENDING | RUNNING | SUCCEEDED | FAILED | STOPPED | MISSING
    message: str | None = None


def entrypoint(kind: str, run_id: uuid.UUID) -> str:
    if kind not in JOB_KINDS:
        raise ValueError(f"no job entrypoint for run kind {kind!r}")
    return f"{shlex.quote(sys.executable)} -m raylane.jobs.{kind} --run-id {run_id}"


def submit_job(
    *,
    kind: str,
    run_id: uuid.UUID,
    attempt: int,
    organization_id: uuid.UUID,
    settings: Settings | None = None,
) -> str:
    """Submit one attempt of a run as a Ray job; returns its submission id."""
    settings = settings or get_settings()
    submission_id = f"raylane-{kind}-{run_id}-{attempt}"
    try:
        _submit(
            settings,
            kind=kind,
            run_id=run_id,
            attempt=attempt,
            organization_id=organization_id,
            submission_id=submission_id,
        )
    except OSError as exc:  # refused connections, timeouts (requests' errors are OSErrors)
        log.warning("Ray Job API unreachable: %s", exc)
        raise ServiceUnavailable("Ray Job API unreachable") from exc
    except RuntimeError as exc:
        # A submission whose acknowledgement was lost is retried with the same id: it exists.
        if "already exists" in str(exc):
            return submission_id
        if _transient(str(exc)):
            log.warning("Ray Job API not ready: %s", exc)
            raise ServiceUnavailable("Ray Job API not ready") from exc
        # Run errors are shown to the run's tenant: Ray's own text (addresses, runtime
        # environments) goes to the log only.
        log.error("Ray Job API refused %s: %s", submission_id, exc)
        raise SubmissionRefused("the Ray Job API refused the submission") from exc
    return submission_id


def _transient(message: str) -> bool:
    """A Job API refusal that says "not now" (a head still starting its agent, a gateway) rather
    than "not this job": the client reports both as ``Request failed with status code N``."""
    match = re.search(r"status code (\d{3})", message)
    status = int(match.group(1)) if match else 0
    return status in (502, 503, 504) or (status >= 500 and "try again later" in message)


def _submit(
    settings: Settings,
    *,
    kind: str,
    run_id: uuid.UUID,
    attempt: int,
    organization_id: uuid.UUID,
    submission_id: str,
) -> None:
    job_client(settings).submit_job(
        entrypoint=entrypoint(kind, run_id),
        submission_id=submission_id,
        # The driver only orchestrates; the heavy stages request their workload's resources.
        entrypoint_num_cpus=0,
        metadata={
            "raylane_run_id": str(run_id),
            "raylane_kind": kind,
            "raylane_organization_id": str(organization_id),
            "raylane_attempt": str(attempt),
        },
        runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1"}},
    )


def job_state(submission_id: str, settings: Settings | None = None) -> JobState:
    client = job_client(settings)
    try:
        info = client.get_job_info(submission_id)
    except RuntimeError as exc:  # the Job API answers 404 as a RuntimeError
        if "does not exist" in str(exc) or "404" in str(exc):
            return JobState("MISSING", "the Ray job no longer exists")
        raise
    return JobState(str(info.status.value), info.message)


def stop_job(submission_id: str, settings: Settings | None = None) -> None:
    try:
        job_client(settings).stop_job(submission_id)
    except RuntimeError as exc:  # already finished or gone: nothing to stop
        log.info("stop_job %s: %s", submission_id, exc)


def job_logs(submission_id: str, settings: Settings | None = None) -> str:
    try:
        return str(job_client(settings).get_job_logs(submission_id))
    except RuntimeError as exc:
        log.warning("logs of %s unavailable: %s", submission_id, exc)
        return "(logs unavailable)"


def cluster_resources() -> dict[str, dict[str, float]] | None:
    """Ray's logical resources ({name: {total, available, used}}), or None when not connected."""
    import ray

    if not ray.is_initialized():
        return None
    total, free = ray.cluster_resources(), ray.available_resources()  # type: ignore[no-untyped-call]
    return {
        name: {
            "total": amount,
            "available": free.get(name, 0.0),
            "used": amount - free.get(name, 0.0),
        }
        for name, amount in sorted(total.items())
        if not name.startswith("node:") and name not in ("memory", "object_store_memory")
    } | {
        name: {
            "total": total[name],
            "available": free.get(name, 0.0),
            "used": total[name] - free.get(name, 0.0),
        }
        for name in ("memory", "object_store_memory")
        if name in total
    }


def job_dashboard_link(settings: Settings, submission_id: str) -> str:
    """Where the Ray dashboard shows one job."""
    base = (
        settings.ray.dashboard_url
        or f"http://{settings.ray.dashboard_host}:{settings.ray.dashboard_port}"
    )
    return f"{base}/#/jobs/{submission_id}"
