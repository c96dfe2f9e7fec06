"""A websocket session on a seam: real fan-out (Redis) and event log (PostgreSQL),
a test's own object in place of the connection."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from realtime.fanout import Fanout
from realtime.session import FrameLane, Limits, Session
from storage.db import create_engine


async def allow_all(_project_id: uuid.UUID) -> None:
    """The authorisation of a session that may read every project."""
    return None


async def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def open_session(
    socket: Any,
    *,
    user_id: str,
    redis_url: str,
    database_url: str,
    frames: FrameLane | None = None,
    limits: Limits | None = None,
) -> AsyncIterator[tuple[Session, Fanout]]:
    """A started session over `socket` with a fan-out of its own; closed after."""
    fanout = Fanout(redis_url)
    engine = create_engine(database_url, pool_size=2)
    session = Session(
        socket,
        user_id=user_id,
        fanout=fanout,
        redis=None,
        engine=engine,
        authorize=allow_all,
        limits=limits or Limits(),
        frames=frames,
    )
    try:
        await session.start()
        yield session, fanout
    finally:
        await session.close()
        await fanout.close()
        await engine.dispose()
