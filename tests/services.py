"""Throwaway real servers for tests: free ports and an S3-compatible server (moto, standalone)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

S3_CREDENTIALS = {"region": "us-east-1", "access_key_id": "testing", "secret_access_key": "testing"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = log.read_text(errors="replace")
            raise RuntimeError(f"moto server exited with {proc.returncode}:\n{output}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"moto server did not answer on {url} within {timeout:.0f} s")


@contextmanager
def s3_server(
    log_dir: Path, *, buckets: tuple[str, ...] = (), timeout: float = 60.0
) -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 with ``buckets`` created; yields its endpoint URL."""
    from raylane.infra.storage import S3Store

    port = free_port()
    # A file, not a pipe: nobody drains a pipe once the server is up, and a full one blocks it.
    log = log_dir / "moto.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(proc, endpoint, log, timeout)
        for bucket in buckets:
            S3Store(bucket, endpoint_url=endpoint, **S3_CREDENTIALS).client.create_bucket(
                Bucket=bucket
            )
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
