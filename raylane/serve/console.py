"""The web console at ``/console``: the static single-page app built from ``console/``.

``make install`` builds it into ``console_dist/`` beside this module. The files need no API key
(they hold no data: every API call the app makes carries the user's key as a Bearer header), so
these routes sit outside the API's auth, rate limits and OpenAPI document.

- ``/console/assets/*``: Vite's content-hashed files, cached for a year (a new build renames them).
- Any other path under ``/console``: a file at the top of the build if one exists, else
  ``index.html`` (the app routes on the client), never cached so a new build shows at once.
- Not built: a 503 page that says to run ``make install``, never a crash.

Every answer carries a strict Content-Security-Policy (no inline script or style, nothing from
another origin, no framing), ``nosniff`` and ``no-referrer``.
"""

from __future__ import annotations

import gzip
import mimetypes
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

PREFIX = "/console"
DIST = Path(__file__).parent / "console_dist"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # for browsers that predate frame-ancestors
}
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
# Text worth compressing; a build's files are small, so they are compressed once and kept.
COMPRESSIBLE = {".js", ".css", ".html", ".svg", ".json", ".txt", ".map"}

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Raylane console not built</title></head>
<body><h1>The console is not built</h1>
<p>This installation has no web console files. Run <code>make install</code> (it builds the
console with Node.js and npm), then reload this page. The API itself works without it.</p>
</body></html>
"""


@lru_cache(maxsize=256)
def _read(path: Path, mtime_ns: int) -> tuple[bytes, bytes | None]:
    """The file's bytes and, for text, its gzip encoding (``mtime_ns`` keys a rebuilt file)."""
    del mtime_ns
    data = path.read_bytes()
    packed = gzip.compress(data, 6, mtime=0) if path.suffix in COMPRESSIBLE else None
    return data, packed


def _media_type(path: Path) -> str:
    if path.suffix == ".js":  # mimetypes on some systems says text/plain or nothing
        return "text/javascript; charset=utf-8"
    guessed = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def _file(request: Request, path: Path, *, cache: str, status: int = 200) -> Response:
    data, packed = _read(path, path.stat().st_mtime_ns)
    headers = {**SECURITY_HEADERS, "Cache-Control": cache, "Vary": "Accept-Encoding"}
    if packed is not None and "gzip" in request.headers.get("accept-encoding", ""):
        data = packed
        headers["Content-Encoding"] = "gzip"
    return Response(data, status_code=status, media_type=_media_type(path), headers=headers)


def _inside(root: Path, relative: str) -> Path | None:
    """``root/relative`` if it is a file under ``root`` (no ``..`` or link escapes it)."""
    if not relative or "\x00" in relative:
        return None
    try:
        candidate = (root / relative).resolve()
        base = root.resolve()
    except (OSError, ValueError):
        return None
    if candidate != base and base in candidate.parents and candidate.is_file():
        return candidate
    return None


def router(dist: Path | None = None) -> APIRouter:
    """The console's routes, serving the build in ``dist`` (default: ``console_dist/``)."""
    root = dist or DIST
    routes = APIRouter(include_in_schema=False)

    @routes.get(PREFIX)
    @routes.get(PREFIX + "/{path:path}")
    async def get_console(request: Request, path: str = "") -> Response:
        """A file of the built app, or its ``index.html`` for a client-side route."""
        index = root / "index.html"
        if not index.is_file():
            return HTMLResponse(
                NOT_BUILT, status_code=503, headers={**SECURITY_HEADERS, "Cache-Control": NO_CACHE}
            )
        found = _inside(root, path)
        if found is not None and found.name != ".built":
            hashed = path.startswith("assets/")
            return _file(request, found, cache=IMMUTABLE if hashed else NO_CACHE)
        if path.startswith("assets/"):  # a missing asset is a 404, not the app's HTML
            return Response(
                "not found", status_code=404, media_type="text/plain", headers=SECURITY_HEADERS
            )
        return _file(request, index, cache=NO_CACHE)

    return routes


def install(app: FastAPI, dist: Path | None = None) -> None:
    """Serve the console on ``app`` (after the API's routes: it never shadows one)."""
    app.include_router(router(dist))
