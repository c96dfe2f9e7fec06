"""Presence: who is looking at a project (and which task), kept in Redis.

Each viewer is a member `user_id|task_id` of the sorted set `presence:{project}`
scored by its expiry time; a heartbeat (the client's `presence` message) pushes
the expiry forward. Joins and leaves are published on the channel
`presence:{project}` so every replica tells its sessions. Entries of a replica
that died simply expire.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import redis.asyncio as aioredis

TTL_S = 30.0


def channel(project_id: str) -> str:
    return f"presence:{project_id}"


def _member(user_id: str, task_id: str | None) -> str:
    return f"{user_id}|{task_id or ''}"


def _viewer(member: str) -> dict[str, Any]:
    user_id, _, task_id = member.partition("|")
    return {"user_id": user_id, "task_id": task_id or None}


async def heartbeat(
    redis: aioredis.Redis, project_id: str, user_id: str, task_id: str | None
) -> list[dict[str, Any]]:
    """Record that the user views the project (or one of its tasks); return who
    is viewing now. A new viewer, or a move to another task, is announced."""
    key = channel(project_id)
    now = time.time()
    member = _member(user_id, task_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zremrangebyscore(key, 0, now)
        pipe.zrangebyscore(key, now, "+inf")
        pipe.zadd(key, {member: now + TTL_S})
        pipe.expire(key, int(TTL_S * 2))
        _, before, added, _ = await pipe.execute()
    stale = [
        m.decode() for m in before if m.decode().startswith(f"{user_id}|") and m.decode() != member
    ]
    if stale:
        await redis.zrem(key, *stale)
    if added:
        await redis.publish(
            key,
            orjson.dumps(
                {"type": "presence", "project_id": project_id, "state": "join", **_viewer(member)}
            ),
        )
    return [
        _viewer(m.decode()) for m in before if m.decode() not in stale and m.decode() != member
    ] + [_viewer(member)]


async def leave(redis: aioredis.Redis, project_id: str, user_id: str) -> None:
    """Remove the user from the project's viewers and announce it."""
    key = channel(project_id)
    raw: list[bytes] = await redis.zrange(key, 0, -1)  # type: ignore[assignment]
    members = [m.decode() for m in raw]
    mine = [m for m in members if m.startswith(f"{user_id}|")]
    if mine and await redis.zrem(key, *mine):
        await redis.publish(
            key,
            orjson.dumps(
                {
                    "type": "presence",
                    "project_id": project_id,
                    "state": "leave",
                    "user_id": user_id,
                    "task_id": None,
                }
            ),
        )
