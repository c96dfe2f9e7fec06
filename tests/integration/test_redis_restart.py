"""A Redis restart during a websocket session ends in a catch-up with no gap.

The suite's shared Redis cannot be restarted safely, so this test gives the
session its own Redis (embedded, restarted for real on the same port) and its own
fan-out; the events themselves are committed through the real API and read back
from PostgreSQL's event log, as a session does after losing its pub/sub link.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis.asyncio as aioredis

from realtime.fanout import Fanout
from realtime.session import Limits, Session
from storage.db import create_engine
from storage.embedded import EmbeddedRedis
from tests.integration.conftest import User, create_task, free_port


class RecordingSocket:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def send_text(self, data: str) -> None:
        self.messages.append(orjson.loads(data))

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        return None

    def versions(self) -> list[int]:
        return [m["version"] for m in self.messages if m["type"] == "event"]


async def _allow(_project_id: uuid.UUID) -> None:
    return None


async def _wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def test_session_catches_up_after_a_redis_restart(
    client: httpx.AsyncClient,
    alice: User,
    project: dict[str, Any],
    database_url: str,
    tmp_path: Path,
) -> None:
    redis = EmbeddedRedis(tmp_path / "redis", port=free_port())
    url = await asyncio.to_thread(redis.start)
    fanout = Fanout(url)
    engine = create_engine(database_url, pool_size=2)
    socket = RecordingSocket()
    session = Session(
        socket,
        user_id=alice.id,
        fanout=fanout,
        redis=None,
        engine=engine,
        authorize=_allow,
        limits=Limits(queue=1000, replay=1000),
    )
    try:
        await session.start()
        await session.handle(
            orjson.dumps({"type": "subscribe", "project_id": project["id"]}).decode()
        )
        await _wait_for(lambda: any(m["type"] == "subscribed" for m in socket.messages))

        await asyncio.to_thread(redis.stop)
        # Written while Redis is down: only the event log has them.
        for i in range(5):
            await create_task(client, alice, project["id"], title=f"during outage {i}")
        await asyncio.to_thread(redis.start)

        await _wait_for(lambda: socket.versions() == [1, 2, 3, 4, 5], timeout=30)
        assert fanout.reconnects >= 1

        # Live delivery works again on the restarted server, exactly once.
        await create_task(client, alice, project["id"], title="after")
        event = {
            "project_id": project["id"],
            "version": 6,
            "event": "task.created",
            "payload": {},
            "actor_id": alice.id,
            "task_id": None,
            "created_at": "2026-01-01T00:00:00+00:00",
        }
        publisher = aioredis.from_url(url)
        try:
            await publisher.publish(f"project:{project['id']}", orjson.dumps(event))
        finally:
            await publisher.aclose()
        await _wait_for(lambda: socket.versions()[-1:] == [6])
        await asyncio.sleep(0.3)
        assert socket.versions() == [1, 2, 3, 4, 5, 6]
    finally:
        await session.close()
        await fanout.close()
        await engine.dispose()
        await asyncio.to_thread(redis.stop)
