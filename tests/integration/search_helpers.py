"""Waiting for the search index in tests: it is eventually consistent by design."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.integration.conftest import User


async def search(
    client: httpx.AsyncClient, user: User, q: str = "", filters: str = "", **params: Any
) -> dict[str, Any]:
    r = await client.get(
        "/api/v1/search", params={"q": q, "filters": filters, **params}, headers=user.headers
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def keys(body: dict[str, Any]) -> set[str]:
    return {item["task"]["key"] for item in body["items"]}


async def wait_for(
    client: httpx.AsyncClient,
    user: User,
    accept: Callable[[dict[str, Any]], bool],
    *,
    q: str = "",
    filters: str = "",
    timeout_s: float = 10.0,
) -> tuple[dict[str, Any], float]:
    """Search until `accept` holds; the body and the seconds it took."""
    started = time.monotonic()
    while True:
        body = await search(client, user, q, filters)
        if accept(body):
            return body, time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"search for {q!r} {filters!r} never matched: {body}")
        await asyncio.sleep(0.02)


async def labelled_project(client: httpx.AsyncClient, user: User, *labels: str) -> dict[str, Any]:
    """A new project whose label set holds `labels` (tasks may carry only those)."""
    from tests.integration.conftest import create_project

    project = await create_project(client, user)
    r = await client.put(
        f"/api/v1/projects/{project['id']}/labels",
        json={"labels": [{"name": name} for name in labels]},
        headers=user.headers,
    )
    assert r.status_code == 200, r.text
    return project
