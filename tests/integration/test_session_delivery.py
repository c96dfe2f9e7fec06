"""How a session hands live events to a connection that takes prepared frames:
at once from the fan-out while nothing can be ahead of them, through the queue
and its sender otherwise, in version order either way (real stack, Redis and
PostgreSQL; the connection is a seam)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from realtime.fanout import Fanout
from realtime.session import FrameLane, Session
from storage.db import create_engine
from tests.integration.conftest import User, create_task


class LaneSocket:
    """A connection offering the frames lane; records which way each frame went."""

    def __init__(self) -> None:
        self.texts: list[dict[str, Any]] = []
        self.at_once: list[int] = []  # versions written from the fan-out's call
        self.waited: list[int] = []  # versions written by the sender
        self.writable = True

    async def send_text(self, data: str) -> None:
        self.texts.append(orjson.loads(data))

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        return None

    def lane(self) -> FrameLane:
        return FrameLane(frame=lambda payload: payload, send=self._send, send_now=self._send_now)

    async def _send(self, frame: bytes) -> bool:
        self.waited.append(orjson.loads(frame)["version"])
        return True

    def _send_now(self, frame: bytes) -> bool:
        if not self.writable:
            return False
        self.at_once.append(orjson.loads(frame)["version"])
        return True


async def _allow(_project_id: uuid.UUID) -> None:
    return None


async def _until(check: Callable[[], bool], within_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_live_events_go_at_once_when_nothing_is_ahead_and_through_the_sender_when_held(
    client: httpx.AsyncClient,
    alice: User,
    project: dict[str, Any],
    database_url: str,
    redis_url: str,
) -> None:
    fanout = Fanout(redis_url)
    engine = create_engine(database_url, pool_size=2)
    socket = LaneSocket()
    session = Session(
        socket,
        user_id=alice.id,
        fanout=fanout,
        redis=None,
        engine=engine,
        authorize=_allow,
        frames=socket.lane(),
    )
    project_id = project["id"]
    try:
        await session.start()
        await session.handle(orjson.dumps({"type": "subscribe", "project_id": project_id}).decode())
        await _until(lambda: any(t["type"] == "subscribed" for t in socket.texts))

        for _ in range(3):
            await create_task(client, alice, project_id)
        await _until(lambda: len(socket.at_once) == 3)
        assert socket.at_once == [1, 2, 3] and socket.waited == []

        socket.writable = False  # the connection's buffer is full: the sender waits
        for _ in range(2):
            await create_task(client, alice, project_id)
        await _until(lambda: len(socket.waited) == 2)
        assert socket.waited == [4, 5] and socket.at_once == [1, 2, 3]

        socket.writable = True
        await create_task(client, alice, project_id)
        await _until(lambda: len(socket.at_once) == 4)
        assert socket.at_once == [1, 2, 3, 6] and socket.waited == [4, 5]
    finally:
        await session.close()
        await fanout.close()
        await engine.dispose()
