"""Publishing per-user pushes (`user:{id}` channels) after a transaction committed."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import redis.asyncio as aioredis

#: (channel, message) pairs, built inside a transaction and sent after it.
Pushes = Sequence[tuple[str, bytes]]


async def publish_all(redis: aioredis.Redis | None, pushes: Pushes) -> None:
    """Send the pushes, best effort: a client that misses one finds the
    notification in its inbox on the next read."""
    if redis is None or not pushes:
        return
    with contextlib.suppress(aioredis.RedisError, OSError):
        async with redis.pipeline(transaction=False) as pipe:
            for channel, message in pushes:
                pipe.publish(channel, message)
            await pipe.execute()
