"""The real-time benchmark's writer against a small HTTP server: the pace it keeps,
and what it counts as acknowledged."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from bench.realtime_writer import title_send_ns, write


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[tuple[str, str, str]]]]:
    """An API stand-in: PUT on task `ok-*` answers 200, on `bad` 500; it records
    (task, authorization, title) of every PUT."""
    seen: list[tuple[str, str, str]] = []

    async def put(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        task = request.match_info["task"]
        seen.append((task, request.headers.get("Authorization", ""), body["title"]))
        return web.json_response({}, status=500 if task == "bad" else 200)

    app = web.Application()
    app.router.add_put("/api/v1/tasks/{task}", put)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_writes_at_the_rate_and_counts_only_acknowledged_ones(
    server: tuple[str, list[tuple[str, str, str]]],
) -> None:
    base, seen = server
    tasks = [
        {"id": "ok-1", "project_id": "p1"},
        {"id": "ok-2", "project_id": "p2"},
        {"id": "bad", "project_id": "p3"},
    ]
    started = time.monotonic_ns()
    result = await write(
        {"base": base, "token": "tok", "tasks": tasks, "rate": 200, "seconds": 0.5}
    )
    assert 90 <= result["sent"] <= 101  # 200/s for half a second
    assert len(seen) == result["sent"]
    assert {auth for _, auth, _ in seen} == {"Bearer tok"}
    bad = sum(1 for task, _, _ in seen if task == "bad")
    assert bad > 0
    assert result["failed"] == bad
    assert len(result["acked"]) == len(result["write_ms"]) == result["sent"] - bad
    assert sum(result["written"].values()) == result["sent"] - bad
    assert set(result["written"]) <= {"p1", "p2"}
    for title, acked_ns in result["acked"].items():
        assert started <= title_send_ns(title) <= acked_ns
    assert len({title for _, _, title in seen}) == result["sent"]  # every title unique


async def test_a_refused_connection_counts_as_failed() -> None:
    result = await write(
        {
            "base": "http://127.0.0.1:9",  # discard port: nothing listens
            "token": "tok",
            "tasks": [{"id": "x", "project_id": "p"}],
            "rate": 50,
            "seconds": 0.1,
        }
    )
    assert result["failed"] == result["sent"] > 0
    assert result["acked"] == {}
