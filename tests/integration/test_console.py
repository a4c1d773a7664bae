"""The web console's static serving: headers, SPA fallback, the unbuilt page, the size budget.

The build comes from ``make install`` (``make test`` depends on it); these tests read the files it
wrote in ``raylane/serve/console_dist``.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from raylane.serve import console
from tests.factories import Api, Tenant

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
BUDGET = 300 * 1024  # compressed bytes of everything the first page load fetches

# XML namespace names the rendering library compares against: identifiers, never fetched.
NAMESPACES = {
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/1998/Math/MathML",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/XML/1998/namespace",
}


@pytest.fixture(scope="module")
def dist() -> Path:
    index = console.DIST / "index.html"
    assert index.is_file(), "the console is not built: run `make install`"
    return console.DIST


def loaded_by_index(dist: Path) -> list[str]:
    """The /console/... URLs that index.html makes the browser fetch (scripts, styles, preloads)."""
    html = (dist / "index.html").read_text()
    return re.findall(r'(?:src|href)="(/console/[^"]+)"', html)


def assert_console_headers(r: httpx.Response) -> None:
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


class TestServing:
    async def test_index_is_served_without_a_key_with_strict_headers(
        self, api: Api, dist: Path
    ) -> None:
        for path in ["/console", "/console/"]:
            r = await api.http.get(path)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("text/html")
            assert '<div id="app">' in r.text
            assert r.headers["cache-control"] == "no-cache"
            assert_console_headers(r)

    async def test_hashed_assets_are_cached_for_long_with_the_right_type(
        self, api: Api, dist: Path
    ) -> None:
        urls = loaded_by_index(dist)
        assert any(u.endswith(".js") for u in urls) and any(u.endswith(".css") for u in urls)
        for url in urls:
            r = await api.http.get(url, headers={"Accept-Encoding": "gzip"})
            assert r.status_code == 200, url
            assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert r.headers["content-encoding"] == "gzip"
            assert r.content == (dist / url.removeprefix("/console/")).read_bytes()
            kind = "text/javascript" if url.endswith(".js") else "text/css"
            assert r.headers["content-type"].startswith(kind)
            assert_console_headers(r)

    async def test_client_routes_fall_back_to_the_index(self, api: Api, dist: Path) -> None:
        index = (dist / "index.html").read_text()
        for path in ["/console/projects", "/console/runs/0193-x", "/console/settings/keys"]:
            r = await api.http.get(path)
            assert r.status_code == 200 and r.text == index, path
            assert_console_headers(r)

    async def test_a_missing_asset_is_a_404_not_the_app(self, api: Api, dist: Path) -> None:
        r = await api.http.get("/console/assets/nothing-here.js")
        assert r.status_code == 404
        assert_console_headers(r)

    async def test_no_file_outside_the_build_is_served(self, api: Api, dist: Path) -> None:
        index = (dist / "index.html").read_text()
        for path in [
            "/console/../pyproject.toml",
            "/console/%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
            "/console/..%2f..%2f..%2fpyproject.toml",
            "/console/.built",
        ]:
            r = await api.http.get(path)
            assert "[project]" not in r.text, path
            assert r.status_code in {200, 404} and (r.status_code == 404 or r.text == index)

    async def test_api_routes_keep_their_auth(self, api: Api, dist: Path) -> None:
        r = await api.http.get("/api/v1/projects")
        assert r.status_code == 401
        assert "/console" not in str((await api.http.get("/openapi.json")).json()["paths"])


class TestNotBuilt:
    @pytest.fixture
    def client(self, tmp_path: Path) -> Iterator[TestClient]:
        app = FastAPI()
        console.install(app, tmp_path)  # an empty folder: no build
        with TestClient(app) as client:
            yield client

    def test_every_console_path_answers_503_saying_what_to_run(self, client: TestClient) -> None:
        for path in ["/console", "/console/", "/console/projects", "/console/assets/a.js"]:
            r = client.get(path)
            assert r.status_code == 503, path
            assert "make install" in r.text
            assert r.headers["content-security-policy"] == CSP


class TestBuild:
    def test_first_load_is_under_the_budget(self, dist: Path) -> None:
        total = len(gzip.compress((dist / "index.html").read_bytes()))
        for url in loaded_by_index(dist):
            total += len(gzip.compress((dist / url.removeprefix("/console/")).read_bytes()))
        assert total < BUDGET, f"first load is {total} compressed bytes"

    def test_no_asset_names_another_origin(self, dist: Path) -> None:
        for path in dist.rglob("*"):
            if not path.is_file() or path.name == ".built":
                continue
            text = path.read_text(errors="replace")
            urls = set(re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[a-z]{2,}[^\s\"'`)]*", text))
            assert urls <= NAMESPACES, (path.name, urls - NAMESPACES)
            assert "@import" not in text and "fonts.g" not in text

    def test_no_inline_script_or_style_in_the_page(self, dist: Path) -> None:
        html = (dist / "index.html").read_text()
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
        assert "<style" not in html and " style=" not in html and "javascript:" not in html


class TestSources:
    def test_no_source_writes_html_or_uses_local_storage(self) -> None:
        """Text is rendered as text, and the key never outlives the tab (sessionStorage only)."""
        sources = Path(__file__).resolve().parents[2] / "console" / "src"
        files = [p for p in sources.rglob("*") if p.suffix in {".ts", ".tsx"}]
        assert files
        for path in files:
            code = path.read_text()
            for banned in ("dangerouslySetInnerHTML", "innerHTML", "outerHTML", "localStorage"):
                assert banned not in code, (path.name, banned)
            assert "eval(" not in code and "new Function(" not in code, path.name


class TestMe:
    async def test_me_names_the_ray_dashboard(self, api: Api, org_a: Tenant) -> None:
        r = await api.as_(org_a).get("/api/v1/me")
        assert r.status_code == 200
        url = r.json()["ray_dashboard_url"]
        assert url.startswith("http") and "#" not in url
