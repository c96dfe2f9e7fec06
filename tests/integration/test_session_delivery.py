"""How a session hands live events to a connection that takes prepared frames:
at once from the fan-out while nothing can be ahead of them, through the queue
and its sender otherwise, in version order either way (real stack, Redis and
PostgreSQL; the connection is a seam)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from realtime.session import FrameLane
from tests.integration.conftest import User, create_task
from tests.integration.session_seam import open_session, wait_until


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


async def test_live_events_go_at_once_when_nothing_is_ahead_and_through_the_sender_when_held(
    client: httpx.AsyncClient,
    alice: User,
    project: dict[str, Any],
    database_url: str,
    redis_url: str,
) -> None:
    socket = LaneSocket()
    project_id = project["id"]
    async with open_session(
        socket,
        user_id=alice.id,
        redis_url=redis_url,
        database_url=database_url,
        frames=socket.lane(),
    ) as (session, _):
        await session.handle(orjson.dumps({"type": "subscribe", "project_id": project_id}).decode())
        await wait_until(lambda: any(t["type"] == "subscribed" for t in socket.texts))

        for _ in range(3):
            await create_task(client, alice, project_id)
        await wait_until(lambda: len(socket.at_once) == 3)
        assert socket.at_once == [1, 2, 3] and socket.waited == []

        socket.writable = False  # the connection's buffer is full: the sender waits
        for _ in range(2):
            await create_task(client, alice, project_id)
        await wait_until(lambda: len(socket.waited) == 2)
        assert socket.waited == [4, 5] and socket.at_once == [1, 2, 3]

        socket.writable = True
        await create_task(client, alice, project_id)
        await wait_until(lambda: len(socket.at_once) == 4)
        assert socket.at_once == [1, 2, 3, 6] and socket.waited == [4, 5]
