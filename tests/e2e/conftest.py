"""One local Ray + Serve app for the e2e session, started by ``raylane up`` itself."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Stack:
    url: str
    admin_key: str
    env: dict[str, str]
    up_output: str

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run the real ``raylane`` console script against this stack."""
        exe = Path(sys.executable).parent / "raylane"
        result = subprocess.run(
            [str(exe), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"raylane {' '.join(args)} -> {result.returncode}\n{result.stderr}")
        return result


@pytest.fixture(scope="session")
def stack(services: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    ports = {
        "RAYLANE_API__PORT": _free_port(),
        "RAYLANE_RAY__GCS_PORT": _free_port(),
        "RAYLANE_RAY__DASHBOARD_PORT": _free_port(),
        "RAYLANE_RAY__CLIENT_PORT": _free_port(),
        "RAYLANE_RAY__DASHBOARD_AGENT_PORT": _free_port(),
        "RAYLANE_RAY__HAPROXY_STATS_PORT": _free_port(),
        "RAYLANE_RAY__HAPROXY_METRICS_PORT": _free_port(),
    }
    config = tmp_path_factory.mktemp("cli") / "config.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "RAYLANE_"))}
    env |= {k: str(v) for k, v in ports.items()}
    env |= {
        "RAYLANE_DATA_DIR": str(services.data_dir),
        "RAYLANE_ENV": "test",
        "RAYLANE_SECRET_KEY": services.secret_key.get_secret_value(),
        "RAYLANE_RAY__NUM_CPUS": "2",
        "RAYLANE_CONFIG": str(config),
    }
    exe = Path(sys.executable).parent / "raylane"
    up = subprocess.run([str(exe), "up"], env=env, capture_output=True, text=True, timeout=600)
    assert up.returncode == 0, up.stderr
    profile = tomllib.loads(config.read_text())["profiles"]["local"]
    yield Stack(profile["url"], profile["api_key"], env, up.stdout + up.stderr)
    subprocess.run([str(exe), "down"], env=env, capture_output=True, text=True, timeout=120)
    from raylane.core.runtime import ray_temp_dir

    shutil.rmtree(ray_temp_dir(services), ignore_errors=True)
