"""Health, readiness, the OpenAPI document, and errors outside any route."""

from __future__ import annotations

import httpx


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok", "ray": "ok"}


async def test_openapi_documents_the_api(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    paths = doc["paths"]
    for path, methods in {
        "/api/v1/auth/signup": {"post"},
        "/api/v1/auth/login": {"post"},
        "/api/v1/users/me": {"get"},
        "/api/v1/projects": {"get", "post"},
        "/api/v1/projects/{project_id}": {"get", "patch", "delete"},
        "/api/v1/tasks": {"get", "post"},
        "/api/v1/tasks/{ref}": {"get", "put", "patch", "delete"},
    }.items():
        assert methods <= set(paths[path]), path
    assert "HTTPBearer" in doc["components"]["securitySchemes"]
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_unknown_route_and_method_are_problems(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["status"] == 404
    wrong = await client.delete("/api/v1/auth/login")
    assert wrong.status_code == 405
    assert wrong.headers["content-type"] == "application/problem+json"
