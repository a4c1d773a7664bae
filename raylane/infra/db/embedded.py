"""Embedded Postgres (pgserver: Postgres 16 + pgvector) kept in the data dir.

The server outlives the process that starts it (``raylane up`` returns; ``raylane down`` stops it),
so it is found again through ``postmaster.pid`` rather than a process handle.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

DATABASE = "raylane"


def pgdata(data_dir: Path) -> Path:
    return (data_dir / "postgres").resolve()


def running_uri(data_dir: Path, *, user: str = "postgres", database: str = DATABASE) -> str | None:
    """The URI of the embedded server if it is running, else None."""
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata(data_dir))
    if info is None or not info.is_running() or info.status != "ready":
        return None
    return info.get_uri(user=user, database=database)


def start(data_dir: Path) -> str:
    """Start (or find) the embedded server and create the database; returns the owner URI."""
    import pgserver

    path = pgdata(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(path, cleanup_mode=None)  # type: ignore[attr-defined]
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE};")
        log.info("created embedded database", extra={"pgdata": str(path)})
    uri = running_uri(data_dir)
    assert uri is not None, "embedded Postgres did not report ready"
    return uri


def stop(data_dir: Path) -> bool:
    """Stop the embedded server if it runs. Returns whether one was stopped."""
    from pgserver import pg_ctl  # type: ignore[attr-defined]  # generated when pgserver loads

    if running_uri(data_dir) is None:
        return False
    user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata(data_dir), user=user)
    return True
