"""The app served on a real port (uvicorn in a thread), for clients that read only the document:
the fuzzer, a generated client."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from tests.factories import bootstrap_platform
from tests.services import free_port


@dataclass(frozen=True)
class LiveApi:
    url: str
    token: str
    organization_id: str
    admin_token: str  # a platform administrator's key (organizations are theirs to create)


@pytest.fixture(scope="module")
def live_api(services: Any) -> Iterator[LiveApi]:
    """The app on a real port, and an organization owner's key (made through the API)."""
    import httpx

    from raylane.serve.app import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the API did not start")
            thread.join(0.05)
        url = f"http://127.0.0.1:{port}"
        admin = asyncio.run(bootstrap_platform(services))
        created = httpx.post(
            f"{url}/api/v1/organizations",
            headers={"Authorization": f"Bearer {admin.token}"},
            json={"name": "Live", "slug": f"live-{port}", "owner_email": "o@live.example.com"},
        )
        assert created.status_code == 201, created.text
        yield LiveApi(
            url,
            created.json()["owner_api_key"],
            created.json()["organization"]["id"],
            admin.token,
        )
    finally:
        server.should_exit = True
        thread.join(30)
