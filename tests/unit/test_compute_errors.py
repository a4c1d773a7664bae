"""What the Ray Job API says (addresses, runtime environments) never becomes a run's error or an
answer's detail: tenants read those. It goes to the log."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from raylane.errors import ServiceUnavailable
from raylane.infra import compute

SECRET = "head-7.internal:8265 token=abc123"


class _Refusing:
    def __init__(self, exc: Exception) -> None:
        self._exc = exc

    def __getattr__(self, name: str) -> Any:
        def fail(*_a: Any, **_k: Any) -> None:
            raise self._exc

        return fail


@pytest.fixture
def ray_says(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def install(exc: Exception) -> None:
        monkeypatch.setattr(compute, "job_client", lambda settings=None: _Refusing(exc))

    return install


def _submit() -> str:
    return compute.submit_job(
        kind="ingest", run_id=uuid.uuid4(), attempt=1, organization_id=uuid.uuid4()
    )


@pytest.mark.parametrize(
    ("exc", "raised"),
    [
        (OSError(f"connection refused by {SECRET}"), ServiceUnavailable),
        (RuntimeError(f"Request failed with status code 503: {SECRET}"), ServiceUnavailable),
        (
            RuntimeError(f"Request failed with status code 400: bad runtime_env {SECRET}"),
            compute.SubmissionRefused,
        ),
    ],
)
def test_submission_errors_carry_no_ray_text(ray_says, exc: Exception, raised: type) -> None:  # type: ignore[no-untyped-def]
    ray_says(exc)
    with pytest.raises(raised) as caught:
        _submit()
    assert SECRET not in str(caught.value)


def test_job_state_and_logs_carry_no_ray_text(ray_says) -> None:  # type: ignore[no-untyped-def]
    ray_says(RuntimeError(f"Job raylane-x does not exist at {SECRET}"))
    state = compute.job_state("raylane-x")
    assert state.status == "MISSING" and SECRET not in (state.message or "")
    assert SECRET not in compute.job_logs("raylane-x")


def test_health_detail_names_no_host() -> None:
    from raylane.serve.platform import _timed

    async def probe() -> None:
        raise OSError(f"could not connect to {SECRET}")

    result = asyncio.run(_timed(probe, 1.0))
    assert result.status == "down" and SECRET not in (result.detail or "")
