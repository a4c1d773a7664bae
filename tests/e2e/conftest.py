"""One local Ray + Serve app for the e2e session, started by ``raylane up`` itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.services import S3_CREDENTIALS, free_port, s3_server

BUCKET = "raylane-e2e"


@dataclass(frozen=True)
class Stack:
    url: str
    admin_key: str
    env: dict[str, str]
    up_output: str

    def cli(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run the real ``raylane`` console script against this stack."""
        exe = Path(sys.executable).parent / "raylane"
        result = subprocess.run(
            [str(exe), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"raylane {' '.join(args)} -> {result.returncode}\n{result.stderr}"
            )
        return result


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with s3_server(tmp_path_factory.mktemp("moto"), buckets=(BUCKET,)) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def stack(
    services: Any, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The platform as ``raylane up`` starts it, with documents in the S3-compatible server."""
    ports = {
        "RAYLANE_API__PORT": free_port(),
        "RAYLANE_RAY__GCS_PORT": free_port(),
        "RAYLANE_RAY__DASHBOARD_PORT": free_port(),
        "RAYLANE_RAY__CLIENT_PORT": free_port(),
        "RAYLANE_RAY__DASHBOARD_AGENT_PORT": free_port(),
        "RAYLANE_RAY__HAPROXY_STATS_PORT": free_port(),
        "RAYLANE_RAY__HAPROXY_METRICS_PORT": free_port(),
        "RAYLANE_RAY__FALLBACK_PROXY_PORT": free_port(),
        "RAYLANE_RAY__FALLBACK_PROXY_GRPC_PORT": free_port(),
    }
    config = tmp_path_factory.mktemp("cli") / "config.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "RAYLANE_"))}
    env |= {k: str(v) for k, v in ports.items()}
    env |= {
        "RAYLANE_DATA_DIR": str(services.data_dir),
        "RAYLANE_ENV": "test",
        "RAYLANE_SECRET_KEY": services.secret_key.get_secret_value(),
        "RAYLANE_CONFIG": str(config),
        # The agent tests' stub agent listens on loopback, which tenants may not reach by default.
        "RAYLANE_AGENT_TESTS__ALLOW_PRIVATE_TARGETS": "true",
        # ... as does the stub LLM a copilot configuration names.
        "RAYLANE_COPILOT__ALLOW_PRIVATE_LLM": "true",
        "RAYLANE_STORAGE__URL": f"s3://{BUCKET}/objects",
        "RAYLANE_STORAGE__ENDPOINT_URL": s3_endpoint,
        "RAYLANE_STORAGE__REGION": S3_CREDENTIALS["region"],
        "RAYLANE_STORAGE__ACCESS_KEY_ID": S3_CREDENTIALS["access_key_id"],
        "RAYLANE_STORAGE__SECRET_ACCESS_KEY": S3_CREDENTIALS["secret_access_key"],
    }
    exe = Path(sys.executable).parent / "raylane"
    up = subprocess.run([str(exe), "up"], env=env, capture_output=True, text=True, timeout=600)
    assert up.returncode == 0, up.stderr
    profile = tomllib.loads(config.read_text())["profiles"]["local"]
    yield Stack(profile["url"], profile["api_key"], env, up.stdout + up.stderr)
    subprocess.run([str(exe), "down"], env=env, capture_output=True, text=True, timeout=120)
    from raylane.infra.runtime import ray_temp_dir

    shutil.rmtree(ray_temp_dir(services), ignore_errors=True)


@pytest.fixture(scope="session")
def ingested(stack: Stack) -> dict[str, Any]:
    """A tenant whose collection holds the e2e corpus, ingested once per session."""
    from tests.e2e.corpus import ingest_corpus

    return ingest_corpus(stack)
