"""Hostile PDFs at the upload: refused with a clear 4xx in bounded time, holding up nobody.

Each file is parsed in a child process with a deadline, before the collection lock is taken,
so a slow file costs only its own request.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from raylane.serve.app import create_app
from tests.factories import Api, Tenant
from tests.integration.test_documents import new_collection, upload
from tests.unit.test_parsing import make_pdf, slow_pdf

DEADLINE_S = 3.0
MAX_PAGES = 50


async def _parser_started(timeout: float = 10.0) -> None:
    """Poll until this process has a parser child (the sandbox's boot line names child_main)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if ppid == os.getpid() and b"child_main" in (proc / "cmdline").read_bytes():
                    return
            except (OSError, ValueError, IndexError):
                continue
        await asyncio.sleep(0.05)
    raise AssertionError("no parser child started")


@pytest.fixture(scope="module")
async def limited_api(services: Any) -> AsyncIterator[Api]:
    """The API with tight parse limits (the same database, so tenants' keys work here too)."""
    documents = services.documents.model_copy(
        update={"parse_timeout_s": DEADLINE_S, "max_pdf_pages": MAX_PAGES}
    )
    application = create_app(services.model_copy(update={"documents": documents}))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://limits.test") as http:
            yield Api(http)


async def test_slow_pdf_is_refused_within_the_deadline(limited_api: Api, org_a: Tenant) -> None:
    col = await new_collection(limited_api, org_a)
    start = time.monotonic()
    r = await upload(limited_api, org_a, col["id"], [("slow.pdf", slow_pdf(), "application/pdf")])
    elapsed = time.monotonic() - start
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_error"
    assert "slow.pdf" in r.json()["detail"] and "too long to parse" in r.json()["detail"]
    assert elapsed < DEADLINE_S + 5  # parsed in process, this file takes ~25 s here
    listed = await limited_api.as_(org_a).get(f"/api/v1/collections/{col['id']}/documents")
    assert listed.json()["items"] == []


async def test_too_many_pages_is_413(limited_api: Api, org_a: Tenant) -> None:
    col = await new_collection(limited_api, org_a)
    data = make_pdf(["page"] * (MAX_PAGES + 1))
    r = await upload(limited_api, org_a, col["id"], [("many.pdf", data, "application/pdf")])
    assert r.status_code == 413, r.text
    assert "many.pdf" in r.json()["detail"] and f"limit of {MAX_PAGES}" in r.json()["detail"]


async def test_a_slow_upload_holds_up_neither_the_api_nor_the_collection(
    limited_api: Api, org_a: Tenant
) -> None:
    col = await new_collection(limited_api, org_a)
    finished: dict[str, float] = {}

    async def timed(name: str, request: Any) -> httpx.Response:
        response = await request
        finished[name] = time.monotonic()
        return response

    slow = asyncio.create_task(
        timed("slow", upload(limited_api, org_a, col["id"], [("slow.pdf", slow_pdf(), "")]))
    )
    await _parser_started()  # the slow upload is parsing (and, before the fix, held the lock)
    listing = await timed("list", limited_api.as_(org_a).get("/api/v1/projects"))
    other = await timed(
        "other", upload(limited_api, org_a, col["id"], [("notes.md", b"# Notes\n\nfine", "")])
    )
    refused = await slow
    assert listing.status_code == 200
    assert other.status_code == 201, other.text  # the same collection: no lock was held
    assert refused.status_code == 422
    assert finished["list"] < finished["slow"] and finished["other"] < finished["slow"]
