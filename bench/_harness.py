"""Shared set-up for benchmarks: a throwaway data dir with the platform's stores and a tenant."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Bench:
    data_dir: Path
    admin_key: str
    env: dict[str, str]


@contextmanager
def platform_env(**overrides: str) -> Iterator[Bench]:
    """Embedded Postgres + Redis in a temp data dir, migrated, with a platform admin key."""
    data_dir = Path(tempfile.mkdtemp(prefix="rl-bench-", dir="/tmp"))
    env = {
        "RAYLANE_DATA_DIR": str(data_dir),
        "RAYLANE_ENV": "test",
        "RAYLANE_SECRET_KEY": secrets.token_urlsafe(40),
        "RAYLANE_RATE_LIMIT__KEY_PER_MINUTE": "100000000",
        "RAYLANE_RATE_LIMIT__KEY_BURST": "1000000",
        "RAYLANE_RATE_LIMIT__ORG_PER_MINUTE": "100000000",
        "RAYLANE_RATE_LIMIT__ORG_BURST": "1000000",
        "RAYLANE_API__PORT": str(free_port()),
        "RAYLANE_RAY__GCS_PORT": str(free_port()),
        "RAYLANE_RAY__DASHBOARD_PORT": str(free_port()),
        "RAYLANE_RAY__CLIENT_PORT": str(free_port()),
        "RAYLANE_RAY__DASHBOARD_AGENT_PORT": str(free_port()),
        "RAYLANE_RAY__HAPROXY_STATS_PORT": str(free_port()),
        "RAYLANE_RAY__HAPROXY_METRICS_PORT": str(free_port()),
        "RAYLANE_RAY__FALLBACK_PROXY_PORT": str(free_port()),
        "RAYLANE_RAY__FALLBACK_PROXY_GRPC_PORT": str(free_port()),
        "HF_HUB_OFFLINE": "1",
    } | overrides
    os.environ.update(env)
    from raylane.config import get_settings
    from raylane.core.bootstrap.service import ensure_platform_admin
    from raylane.infra import runtime
    from raylane.infra.db import migrate

    get_settings.cache_clear()
    settings = get_settings()
    runtime.start_stores(settings)
    migrate.upgrade(settings)
    created = asyncio.run(ensure_platform_admin(settings))
    assert created is not None
    try:
        yield Bench(data_dir, created[2], env)
    finally:
        import ray

        # Disconnect first: a driver whose cluster is stopped under it is ended by Ray's core
        # worker a minute later, before Python prints the error that brought it here.
        ray.shutdown()
        runtime.stop_all(settings)
        shutil.rmtree(runtime.ray_temp_dir(settings), ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def uvicorn_app(env: dict[str, str], *, workers: int = 1) -> Iterator[str]:
    """The platform's FastAPI app under plain uvicorn in a subprocess; yields its base URL."""
    from raylane.serve.deploy import wait_http

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "raylane.serve.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=os.environ | env,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/openapi.json", timeout=180)  # several workers start on a busy machine
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


def wait_serve_app(timeout: float = 300) -> None:
    """Until every deployment of the Serve app is up (the LLM replica loads a model at start)."""
    from ray import serve

    from raylane.infra.workloads import serve_app

    app_name = serve_app().app_name
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        app = serve.status().applications.get(app_name)
        status = app.status if app else None
        if str(status) in ("RUNNING", "ApplicationStatus.RUNNING"):
            return
        time.sleep(1)
    raise TimeoutError(f"Serve app {app_name!r} not running after {timeout:.0f} s ({status})")


def serve_replicas(deployment: str) -> int:
    """RUNNING replicas of one deployment of the Serve app (Serve's status API)."""
    from ray import serve

    from raylane.infra.workloads import serve_app

    app = serve.status().applications.get(serve_app().app_name)
    if app is None or deployment not in app.deployments:
        return 0
    states = app.deployments[deployment].replica_states
    return int(sum(n for state, n in states.items() if str(state).endswith("RUNNING")))


def stop_platform_ray() -> None:
    """Disconnect this driver and stop the local Ray head (Serve with it); stores stay up."""
    import ray

    from raylane.config import get_settings
    from raylane.infra import runtime

    ray.shutdown()
    runtime.stop_ray(get_settings())


def start_platform(settings: Any) -> str:
    """Stores, a local Ray head and the Serve app, as ``make run`` starts them: the API's URL."""
    from raylane.infra import runtime
    from raylane.serve.deploy import deploy

    runtime.start_stores(settings)
    runtime.start_ray(settings)
    url = deploy(settings)
    wait_serve_app()
    return url


def stop_platform(settings: Any) -> None:
    """Ray, Serve, Postgres and Redis stopped (the baselines run alone)."""
    import ray
    from pgserver.postgres_server import PostgresServer

    from raylane.infra import runtime

    ray.shutdown()
    runtime.stop_all(settings)
    # pgserver keeps a handle per data dir in this process; the server was stopped behind its
    # back, so the next start must make a new one.
    PostgresServer._instances.clear()


def median_spread(values: list[float], fmt: str = ".1f") -> str:
    """``median (min-max)`` of a list of measurements."""
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def tenant(url: str, admin_key: str, slug: str = "bench") -> tuple[uuid.UUID, str]:
    """A new organization created with the platform-admin key: (its id, its owner's API key)."""
    from raylane.client import Client

    with Client(url, admin_key) as admin:
        created = admin.organizations.create(
            name=slug, slug=slug, owner_email=f"owner@{slug}.example.com"
        )
    return created.organization.id, created.owner_api_key


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    assert m, text
    return float(m.group(1)) * _UNIT[m.group(2)]


def wrk(
    url: str,
    *,
    clients: int,
    seconds: int,
    headers: dict[str, str],
    script: str | None = None,
    strict: bool = True,
    timeout_s: int | None = None,
) -> Load:
    """Closed-loop load with wrk (a C load generator: it leaves the CPU to the servers).
    ``script``: a wrk Lua script (e.g. one that POSTs a rotating set of bodies).
    ``strict``: a socket error or timeout (wrk's default, 2 s, or ``timeout_s``) raises;
    warm-ups pass False.
    A non-2xx response always raises."""
    cmd = ["wrk", f"-t{min(clients, 2)}", f"-c{clients}", f"-d{seconds}s", "--latency"]
    if script is not None:
        cmd += ["-s", script]
    if timeout_s is not None:  # wrk's own default is 2 s: too short for heavier requests
        cmd += ["--timeout", f"{timeout_s}s"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Socket errors: (.*)", out)
    if errors and strict:
        raise RuntimeError(f"wrk socket errors ({errors.group(1)}):\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    dist = out.split("Latency Distribution", 1)[1]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", dist, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", dist, re.M).group(1))  # type: ignore[union-attr]
    if "Non-2xx" in out:
        raise RuntimeError(f"non-2xx responses under load:\n{out}")
    return Load(rps, p50, p99)
