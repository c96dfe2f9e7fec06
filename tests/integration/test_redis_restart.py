"""A Redis restart during a websocket session ends in a catch-up with no gap.

The suite's shared Redis cannot be restarted safely, so this test gives the
session its own Redis (embedded, restarted for real on the same port) and its own
fan-out; the events themselves are committed through the real API and read back
from PostgreSQL's event log, as a session does after losing its pub/sub link.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis.asyncio as aioredis

from storage.embedded import EmbeddedRedis
from tests.integration.conftest import User, create_task, free_port
from tests.integration.session_seam import open_session, wait_until


class RecordingSocket:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def send_text(self, data: str) -> None:
        self.messages.append(orjson.loads(data))

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        return None

    def versions(self) -> list[int]:
        return [m["version"] for m in self.messages if m["type"] == "event"]


async def test_session_catches_up_after_a_redis_restart(
    client: httpx.AsyncClient,
    alice: User,
    project: dict[str, Any],
    database_url: str,
    tmp_path: Path,
) -> None:
    redis = EmbeddedRedis(tmp_path / "redis", port=free_port())
    url = await asyncio.to_thread(redis.start)
    socket = RecordingSocket()
    try:
        async with open_session(
            socket, user_id=alice.id, redis_url=url, database_url=database_url
        ) as (session, fanout):
            await session.handle(
                orjson.dumps({"type": "subscribe", "project_id": project["id"]}).decode()
            )
            await wait_until(lambda: any(m["type"] == "subscribed" for m in socket.messages))

            await asyncio.to_thread(redis.stop)
            # Written while Redis is down: only the event log has them.
            for i in range(5):
                await create_task(client, alice, project["id"], title=f"during outage {i}")
            await asyncio.to_thread(redis.start)

            await wait_until(lambda: socket.versions() == [1, 2, 3, 4, 5], timeout=30)
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
            await wait_until(lambda: socket.versions()[-1:] == [6])
            await asyncio.sleep(0.3)
            assert socket.versions() == [1, 2, 3, 4, 5, 6]
    finally:
        await asyncio.to_thread(redis.stop)
