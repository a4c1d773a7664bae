"""The local runtime ``raylane up`` manages: embedded Postgres, embedded Redis and a Ray head.

Each part is started only if it is not already running, so ``up`` twice starts nothing twice,
and each is found again from files in the data dir, so ``down`` and ``status`` work from any
process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from raylane.config import Settings
from raylane.errors import ServiceUnavailable
from raylane.infra import embedded_redis, kv
from raylane.infra.db import embedded


@dataclass(frozen=True)
class PartStatus:
    name: str
    running: bool
    detail: str


def ray_dir(settings: Settings) -> Path:
    return (settings.data_dir / "ray").resolve()


def ray_temp_dir(settings: Settings) -> Path:
    # Ray puts unix sockets under its temp dir: keep the path short and unique per data dir.
    digest = hashlib.sha1(str(settings.data_dir.resolve()).encode()).hexdigest()[:8]
    return Path("/tmp") / f"raylane-{digest}"


def gcs_address(settings: Settings) -> str:
    return settings.ray.address or f"127.0.0.1:{settings.ray.gcs_port}"


def dashboard_url(settings: Settings) -> str:
    return f"http://{settings.ray.dashboard_host}:{settings.ray.dashboard_port}"


def ray_token(settings: Settings) -> Path:
    """The Ray auth token file for this data dir, created (0600) on first use."""
    path = ray_dir(settings) / "auth_token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path


# Serve's switches, the same for `raylane up` and the KubeRay pods (deploy/render.py); Serve
# reads them at start-up only. An operator's own value in the environment wins.
# * The proxy's readiness check: its 5 s default is missed on a loaded 2-core box, and Serve
#   then kills the proxy in a loop.
# * Serve's own telemetry, trimmed where the platform records the same or needs less (on 2
#   cores at 16 clients it took 0.3 of a core from the API replicas; docs/deployment.md):
#   HAProxy's per-request metrics (one log datagram per request, parsed in Python by the
#   HAProxyManager; the API's raylane_http_* metrics count the same requests), replicas and
#   routers exporting metrics each second rather than ten times, and the controller's loop
#   twice a second rather than ten times.
SERVE_ENV = {
    "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "60",
    "RAY_SERVE_HAPROXY_METRICS_ENABLED": "0",
    "RAY_SERVE_METRICS_EXPORT_INTERVAL_MS": "1000",
    "RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "0.5",
}


def ray_env(settings: Settings) -> dict[str, str]:
    """Environment for the Ray head and every driver that talks to it.

    Serve reads its performance switches at import, so they must be in the head's environment;
    Raylane settings travel the same way, so replicas and jobs see the same configuration.
    """
    env = {k: v for k, v in os.environ.items() if k.startswith("RAYLANE_")}
    env |= {
        "RAYLANE_DATA_DIR": str(settings.data_dir.resolve()),
        "RAYLANE_ENV": settings.env,
        "RAYLANE_SECRET_KEY": settings.secret_key.get_secret_value(),
        "RAY_AUTH_MODE": "token",
        "HF_HUB_OFFLINE": "1",
        # Ray lowers its workers' priority (nice 15) by default; Serve replicas answer users.
        "RAY_worker_niceness": "0",
    }
    env |= {key: os.environ.get(key, value) for key, value in SERVE_ENV.items()}
    if settings.ray.address is None:
        env["RAY_AUTH_TOKEN_PATH"] = str(ray_token(settings))
    if settings.ray.throughput_optimized:
        env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] = "1"
    if settings.ray.haproxy:
        haproxy = ray_temp_dir(settings) / "haproxy"
        env |= {
            "RAY_SERVE_ENABLE_HA_PROXY": "1",
            "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(haproxy / "haproxy.cfg"),
            "RAY_SERVE_HAPROXY_SOCKET_PATH": str(haproxy / "admin.sock"),
            "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(haproxy),
            "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(haproxy / "server-state"),
            "RAY_SERVE_HAPROXY_STATS_PORT": str(settings.ray.haproxy_stats_port),
            "RAY_SERVE_HAPROXY_METRICS_PORT": str(settings.ray.haproxy_metrics_port),
            "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(settings.ray.fallback_proxy_port),
            "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(settings.ray.fallback_proxy_grpc_port),
        }
    return env


def _port_open(address: str, timeout: float = 0.5) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def head_cpus(settings: Settings) -> int:
    """Logical CPUs for a one-machine head.

    The Serve replicas (API, Embedder, LLM, Copilot) mostly wait on I/O but each reserves CPU;
    declaring at least 8 lets a 2-core laptop run them and an ingest job side by side.
    """
    return settings.ray.num_cpus or max(os.cpu_count() or 1, 8)


def ray_running(settings: Settings) -> bool:
    return _port_open(gcs_address(settings))


def start_ray(settings: Settings, *, resources: dict[str, float] | None = None) -> str:
    """Start a local Ray head (token auth, dashboard on 127.0.0.1) unless one answers already.

    The head declares every workload's custom resource (``configs/workloads.yaml``) unless
    ``resources`` says otherwise, so Serve replicas and jobs can be placed on it.
    """
    from raylane.infra.workloads import head_resources

    resources = head_resources() if resources is None else resources
    address = gcs_address(settings)
    if settings.ray.address is not None or ray_running(settings):
        return address
    ray = Path(sys.executable).parent / "ray"
    cmd = [
        str(ray),
        "start",
        "--head",
        f"--port={settings.ray.gcs_port}",
        f"--dashboard-host={settings.ray.dashboard_host}",
        f"--dashboard-port={settings.ray.dashboard_port}",
        f"--dashboard-agent-listen-port={settings.ray.dashboard_agent_port}",
        f"--ray-client-server-port={settings.ray.client_port}",
        f"--temp-dir={ray_temp_dir(settings)}",
        "--disable-usage-stats",
    ]
    cmd.append(f"--num-cpus={head_cpus(settings)}")
    if resources:
        cmd.append(f"--resources={json.dumps(resources)}")
    log = ray_dir(settings) / "ray-start.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        rc = subprocess.run(
            cmd, env=os.environ | ray_env(settings), stdout=out, stderr=out
        ).returncode
    if rc != 0:
        raise ServiceUnavailable(f"ray start failed (exit {rc}); see {log}")
    return address


def stop_ray(settings: Settings, *, timeout: float = 8.0) -> bool:
    """Stop the Ray processes of this data dir's head (and only those), children included."""
    import psutil

    if settings.ray.address is not None:
        return False
    marker = str(ray_temp_dir(settings))
    gcs_suffix = f":{settings.ray.gcs_port}"

    def ours(part: str) -> bool:
        # Ray's own processes name the temp dir; its client server names only the GCS address.
        return marker in part or (part.startswith("--address=") and part.endswith(gcs_suffix))

    procs: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(ours(part) for part in proc.info["cmdline"] or []):
                # Agents and workers rename themselves ("ray::..."): take the whole tree.
                for p in [proc, *proc.children(recursive=True)]:
                    procs[p.pid] = p
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    for proc in procs.values():
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(list(procs.values()), timeout=timeout)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)
    return bool(procs)


def start_stores(settings: Settings) -> None:
    """Embedded Postgres and Redis, where no external URL is configured."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.embedded_database:
        embedded.start(settings.data_dir)
    if settings.embedded_redis:
        embedded_redis.start_embedded(settings.data_dir)


def stop_all(settings: Settings) -> list[str]:
    """Stop every embedded part; returns the names of those that were running."""
    stopped = []
    if stop_ray(settings):
        stopped.append("ray")
    if settings.embedded_redis and embedded_redis.stop_embedded(settings.data_dir):
        stopped.append("redis")
    if settings.embedded_database and embedded.stop(settings.data_dir):
        stopped.append("postgres")
    return stopped


def status(settings: Settings) -> list[PartStatus]:
    parts = []
    if settings.embedded_database:
        uri = embedded.running_uri(settings.data_dir)
        parts.append(PartStatus("postgres", uri is not None, "embedded, " + (uri or "stopped")))
    else:
        parts.append(PartStatus("postgres", True, "external (RAYLANE_DATABASE_URL)"))
    if settings.embedded_redis:
        up = embedded_redis.embedded_running(settings.data_dir)
        parts.append(PartStatus("redis", up, f"embedded, {kv.redis_url(settings)}"))
    else:
        parts.append(PartStatus("redis", True, "external (RAYLANE_REDIS_URL)"))
    parts.append(
        PartStatus(
            "ray",
            ray_running(settings),
            f"{gcs_address(settings)}, dashboard {dashboard_url(settings)}",
        )
    )
    return parts
