"""A session whose client cannot keep up is closed with 4429, and the fan-out
that feeds it never waits (real Redis and PostgreSQL; the socket is a seam)."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import redis.asyncio as aioredis

from realtime.protocol import CloseCode
from realtime.session import Limits
from tests.integration.session_seam import open_session, wait_until


class StalledSocket:
    """A websocket whose peer stopped reading: every send waits forever."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed_with: int | None = None
        self._never = asyncio.Event()

    async def send_text(self, data: str) -> None:
        self.sent.append(data)
        if len(self.sent) > 2:  # the greeting and the first reply get through
            await self._never.wait()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed_with = code


async def test_overflowing_session_is_closed_too_slow(database_url: str, redis_url: str) -> None:
    publisher = aioredis.from_url(redis_url)
    socket = StalledSocket()
    user_id = str(uuid.uuid4())
    try:
        async with open_session(
            socket,
            user_id=user_id,
            redis_url=redis_url,
            database_url=database_url,
            limits=Limits(queue=16, replay=100),
        ) as (session, _):  # the session listens on the user's own channel
            started = asyncio.get_running_loop().time()
            for n in range(200):
                message = {"type": "notification", "id": n, "title": "x" * 1000}
                await publisher.publish(f"user:{user_id}", orjson.dumps(message))
            publishing_took = asyncio.get_running_loop().time() - started
            await asyncio.wait_for(session.closed.wait(), 10)
            await wait_until(lambda: socket.closed_with is not None, timeout=2.5)
            assert socket.closed_with == CloseCode.TOO_SLOW
            assert publishing_took < 5
            assert len(socket.sent) <= 3, "nothing is sent after the socket stalled"
    finally:
        await publisher.aclose()
