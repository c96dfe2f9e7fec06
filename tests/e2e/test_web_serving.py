"""How the API serves the web app: long-lived caching for hashed assets, no-cache
for index.html, client routes answered with the app, and the API's own 404/405
problems left untouched."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from serve_app import problems
from serve_app.routes import web

DIST = Path(web.DEFAULT_DIST)
needs_bundle = pytest.mark.skipif(
    not (DIST / "index.html").exists(), reason="the web app is not built: run `make web`"
)


@needs_bundle
async def test_index_and_client_routes_get_the_app_uncached(client: httpx.AsyncClient) -> None:
    for path in ("/", "/projects", "/projects/abc/board", "/tasks/WEB-1", "/login"):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["cache-control"] == "no-cache"
        assert '<div id="root">' in r.text


@needs_bundle
async def test_hashed_assets_are_immutable_and_gzipped(client: httpx.AsyncClient) -> None:
    index = (await client.get("/")).text
    script = index.split('src="', 1)[1].split('"', 1)[0]
    assert script.startswith("/assets/")
    r = await client.get(script, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "javascript" in r.headers["content-type"]
    assert r.headers.get("content-encoding") == "gzip"
    assert len(r.content) > 1000  # httpx decoded it
    missing = await client.get("/assets/nothing-here.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_api_paths_keep_their_problems(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong = await client.get("/api/v1/auth/login")  # POST only
    assert wrong.status_code == 405
    assert wrong.headers["content-type"] == "application/problem+json"
    assert "POST" in wrong.headers["allow"]
    assert (await client.get("/openapi.json")).headers["content-type"] == "application/json"
    assert (await client.get("/healthz")).status_code == 200


def _local(monkeypatch: pytest.MonkeyPatch, dist: Path) -> httpx.AsyncClient:
    """The web router alone, in process, serving `dist`."""
    monkeypatch.setenv("TASKHIVE_WEB_DIST", str(dist))
    app = FastAPI()
    problems.install(app)
    app.include_router(web.router)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://web")


async def test_missing_bundle_gets_a_page_that_says_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with _local(monkeypatch, tmp_path / "nothing") as http:
        r = await http.get("/projects")
    assert r.status_code == 503
    assert "make web" in r.text


async def test_files_outside_the_bundle_are_never_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>app</html>")
    (dist / "assets" / "app-1234.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("TOP-SECRET-CONTENT")
    async with _local(monkeypatch, dist) as http:
        asset = await http.get("/assets/app-1234.js")
        assert asset.headers["cache-control"].endswith("immutable")
        assert (await http.get("/..%2Fsecret.txt")).text == "<html>app</html>"
        assert "TOP-SECRET" not in (await http.get("/assets/..%2F..%2Fsecret.txt")).text
