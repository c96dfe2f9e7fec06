"""The web UI: the built bundle in `web/dist`, served at `/`.

Included after every API router, so an API route always wins. What it answers:

- `/assets/...`: Vite's content-hashed files, cacheable for a year (`immutable`);
  a precompressed `.gz` twin is sent to clients that accept gzip;
- other files at the bundle's root (icons): cacheable for an hour;
- any other path outside the API (`/projects/...`, `/tasks/WEB-1`): `index.html`
  with `no-cache`, so the client-side router takes over and a new deploy is seen
  on the next load;
- paths under the API's prefixes (`/api`, `/ws`, `/metrics`, `/docs`, ...) that no
  API route matched: the same problem+json 404 (or 405) as before the UI existed;
- a page that says how to build the UI when the bundle is missing (503).
"""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Message

from domain.errors import NotFound

router = APIRouter(include_in_schema=False)

#: Where `make web` builds the bundle; `TASKHIVE_WEB_DIST` points elsewhere.
DEFAULT_DIST = Path(__file__).resolve().parents[2] / "web" / "dist"

#: Path prefixes that belong to the API and are never answered with the UI.
API_PREFIXES = (
    "/api",
    "/ws",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/redoc",
    "/healthz",
    "/readyz",
)

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=3600"
NO_CACHE = "no-cache"

_NOT_BUILT = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Taskhive</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 560px; margin: 64px auto;
padding: 0 16px; color: #1b1c21; line-height: 1.5">
<h1>The Taskhive web app is not built</h1>
<p>The API is running (see <a href="/docs">/docs</a>), but there is no web bundle
at <code>{dist}</code>.</p>
<p>Build it with <code>make web</code> (needs Node.js 20 and npm), or start the
server with <code>make run</code>, which builds it first.</p>
</body></html>"""


def dist_dir() -> Path:
    return Path(os.environ.get("TASKHIVE_WEB_DIST") or DEFAULT_DIST)


def _is_api_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in API_PREFIXES)


async def _api_miss(request: Request) -> Response:
    """What the API would have said without this router: its 405 (with `Allow`)
    when the path exists for other methods, else a 404, both as problem+json."""
    scope = dict(request.scope)
    for route in request.app.router.routes:
        match, child = route.matches(scope)
        if match is Match.PARTIAL:
            # Only a method mismatch matches partially; the route itself raises the
            # 405 with its `Allow` header (it raises when the scope has an app).
            await route.handle({**scope, **child}, request.receive, _discard)
            raise StarletteHTTPException(405, "Method Not Allowed")
    raise NotFound(f"no such endpoint: {request.url.path}")


async def _discard(message: Message) -> None:
    """An ASGI `send` for a route that is expected to raise instead of answering."""


def _file_in(dist: Path, path: str) -> Path | None:
    """The bundle file `path` names, or None; never a file outside the bundle."""
    if not path or path.endswith("/"):
        return None
    candidate = (dist / path).resolve()
    root = dist.resolve()
    if root not in candidate.parents or not candidate.is_file():
        return None
    return candidate


def _asset(request: Request, file: Path, cache: str) -> Response:
    gz = file.with_name(file.name + ".gz")
    headers = {"Cache-Control": cache, "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", "") and gz.is_file():
        # Typed as the original file, not as the `.gz` twin.
        media_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        return FileResponse(
            gz, media_type=media_type, headers=headers | {"Content-Encoding": "gzip"}
        )
    return FileResponse(file, headers=headers)


@router.get("/{path:path}")
async def spa(path: str, request: Request) -> Response:
    """A file of the bundle, or the app's `index.html` for a client-side route."""
    if _is_api_path(request.url.path):
        return await _api_miss(request)
    dist = dist_dir()
    index = dist / "index.html"
    if not index.is_file():
        return HTMLResponse(_NOT_BUILT.format(dist=dist), status_code=503)
    file = _file_in(dist, path)
    if file is not None and file != index.resolve():
        return _asset(request, file, IMMUTABLE if path.startswith("assets/") else SHORT)
    if path.startswith("assets/"):
        raise NotFound(f"no such file in the web bundle: {path}")
    return FileResponse(index, headers={"Cache-Control": NO_CACHE})
