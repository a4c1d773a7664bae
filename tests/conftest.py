"""Session-wide real services: one embedded Postgres, one embedded Redis, one Ray (in e2e).

Tests isolate by tenant (each test makes its own organizations), never by restarting services.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    # A short path: unix socket paths are limited to ~107 bytes.
    path = Path(tempfile.mkdtemp(prefix="rl-test-", dir="/tmp"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(data_dir: Path):  # type: ignore[no-untyped-def]
    from raylane.config import Settings

    return Settings(
        env="test",
        data_dir=data_dir,
        secret_key=secrets.token_urlsafe(40),
        rate_limit={
            "key_per_minute": 100_000,
            "key_burst": 10_000,
            "org_per_minute": 100_000,
            "org_burst": 10_000,
        },
    )


@pytest.fixture(scope="session")
def services(settings):  # type: ignore[no-untyped-def]
    """Embedded Postgres + Redis started once, migrated; stopped at the end of the session."""
    from raylane.config import get_settings
    from raylane.infra import embedded_redis
    from raylane.infra.db import embedded, migrate

    get_settings.cache_clear()
    os.environ["RAYLANE_DATA_DIR"] = str(settings.data_dir)
    os.environ["RAYLANE_ENV"] = "test"
    os.environ["RAYLANE_SECRET_KEY"] = settings.secret_key.get_secret_value()
    embedded.start(settings.data_dir)
    embedded_redis.start_embedded(settings.data_dir)
    migrate.upgrade(settings)
    yield settings
    embedded_redis.stop_embedded(settings.data_dir)
    embedded.stop(settings.data_dir)
    get_settings.cache_clear()
